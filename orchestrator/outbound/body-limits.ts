/**
 * Reading a response (or upload) body within limits: never buffered past a size cap, and, for
 * downloads, aborted when it falls below a minimum rate for a whole window. The rate check is what
 * stops a server trickling a byte a second from holding an ingest slot until the overall timeout
 * (undici's body timeout only notices silence, not slowness).
 */
import fs from "node:fs";
import { Transform, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BadInputError } from "../ingest/ingest-errors.ts";
import { TransientFetchError } from "./fetch-errors.ts";

/** At least `bytesPerSec` on average over every `windowMs` (consecutive windows from the first byte wait). */
export interface MinimumRate {
  bytesPerSec: number;
  windowMs: number;
}

export interface BodyLimits {
  maxBytes: number;
  /** Omitted or bytesPerSec 0: no rate check (uploads, where the client is the one waiting). */
  minRate?: MinimumRate;
  /** A body that sends nothing for this long fails with BadInputError `stalled` (uploads: a client gone quiet). */
  idleMs?: number | undefined;
  signal?: AbortSignal;
  /** What the body is, for messages: "audio", "feed", "upload". */
  what?: string;
  /** Where it comes from (host, never user info), for messages. */
  where?: string;
}

type Body = NodeJS.ReadableStream | AsyncIterable<Uint8Array>;

/**
 * A pass-through that fails with BadInputError too_large past maxBytes, with BadInputError stalled
 * when nothing arrives for `idleMs`, and with TransientFetchError too_slow when a window ends with
 * fewer bytes than the minimum rate allows.
 */
function limiter(limits: BodyLimits): { stream: Transform; bytes: () => number } {
  const what = limits.what ?? "audio";
  let bytes = 0;
  let windowStartBytes = 0;
  let timer: NodeJS.Timeout | undefined;
  let idle: NodeJS.Timeout | undefined;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      idle?.refresh();
      bytes += chunk.length;
      if (bytes > limits.maxBytes) done(new BadInputError("too_large", `${what} is over the ${limits.maxBytes}-byte limit`));
      else done(null, chunk);
    },
    flush(done) {
      clearInterval(timer);
      clearTimeout(idle);
      done();
    },
    destroy(err, done) {
      clearInterval(timer);
      clearTimeout(idle);
      done(err);
    },
  });
  const idleMs = limits.idleMs;
  if (idleMs !== undefined && idleMs > 0) {
    idle = setTimeout(() => {
      stream.destroy(new BadInputError("stalled", `the ${what} stalled: no bytes for ${idleMs / 1000} s after ${bytes} bytes`));
    }, idleMs);
    idle.unref();
  }
  const rate = limits.minRate;
  if (rate && rate.bytesPerSec > 0) {
    const needed = (rate.bytesPerSec * rate.windowMs) / 1000;
    timer = setInterval(() => {
      const got = bytes - windowStartBytes;
      windowStartBytes = bytes;
      if (got < needed) {
        const from = limits.where ? ` from ${limits.where}` : "";
        stream.destroy(
          new TransientFetchError(
            "too_slow",
            `${what} download${from} too slow: ${got} bytes in ${rate.windowMs / 1000} s, under the minimum of ${rate.bytesPerSec} bytes/s`,
          ),
        );
      }
    }, rate.windowMs);
    timer.unref();
  }
  return { stream, bytes: () => bytes };
}

/**
 * A pass-through that also writes every piece to `copy` (ffmpeg's stdin during streaming ingest),
 * waiting for it to drain, so the slower of the two sets the pace. Once `copy` fails or closes
 * (ffmpeg gave up on the bytes) the body still flows on to its file.
 */
export function teeTo(copy: Writable): Transform {
  let open = true;
  const closed = () => (open = false);
  copy.on("error", closed);
  copy.on("close", closed);
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (!open || copy.write(chunk)) return done(null, chunk);
      const go = () => {
        copy.off("drain", go);
        copy.off("close", go);
        done(null, chunk);
      };
      copy.on("drain", go);
      copy.on("close", go);
    },
  });
}

/**
 * Stream a body into a file within the limits; on any failure the file is removed and the error
 * rethrown as it came (too_large, too_slow, or the stream's own error for the caller to classify).
 */
export async function streamToFile(body: Body, destPath: string, limits: BodyLimits & { tee?: Writable }): Promise<number> {
  const limit = limiter(limits);
  try {
    const opts = limits.signal ? { signal: limits.signal } : {};
    if (limits.tee) await pipeline(body as NodeJS.ReadableStream, limit.stream, teeTo(limits.tee), fs.createWriteStream(destPath), opts);
    else await pipeline(body as NodeJS.ReadableStream, limit.stream, fs.createWriteStream(destPath), opts);
  } catch (err) {
    fs.rmSync(destPath, { force: true });
    throw err;
  }
  return limit.bytes();
}

/**
 * Stream a body into `sink` within the limits (an upload's receipt writes its own file: it tells
 * the ingest following it how far the file is written); resolves with the byte count once `sink`
 * has finished, rejects as streamToFile does and leaves cleaning `sink`'s target to the caller.
 */
export async function streamToSink(body: Body, sink: Writable, limits: BodyLimits): Promise<number> {
  const limit = limiter(limits);
  await pipeline(body as NodeJS.ReadableStream, limit.stream, sink, limits.signal ? { signal: limits.signal } : {});
  return limit.bytes();
}

/** Read a whole body into memory within the limits (feeds: small, and parsed as one document). */
export async function readToBuffer(body: Body, limits: BodyLimits): Promise<Buffer> {
  const parts: Buffer[] = [];
  const collect = new Writable({
    write(chunk: Buffer, _enc, done) {
      parts.push(chunk);
      done();
    },
  });
  await pipeline(body as NodeJS.ReadableStream, limiter(limits).stream, collect, limits.signal ? { signal: limits.signal } : {});
  return Buffer.concat(parts);
}

/**
 * An upload while its bytes arrive, and how its ingest reads them before the last one has come.
 *
 * The request body is written, within the size cap, to `<uploadDir>/<id>.upload.part` at the
 * client's pace; the ingest FOLLOWS that growing file (`follow`): it reads up to the bytes already
 * written, waits for more, and ends once the receipt is complete. Chosen over a tee of the body into
 * ffmpeg's stdin because the file is what a crash or a takeover resumes from anyway, the client is
 * never held back by the decode or the chunk publishing, and an ingest that waits for a processing
 * slot catches up from the file later instead of buffering the body in memory or stalling the client.
 *
 * Complete: the part file is renamed to `<id>.upload` (a file under that name is always a whole
 * upload: what a takeover may decode) and kept in the upload store when there is one; only then do
 * readers end and the request is answered. A body that fails (over the size cap, the client gone),
 * or a receipt its ingest abandoned (cancelled, failed, claim lost), removes the part file and fails
 * every reader with the reason; a takeover that finds a part file, or no copy in the upload store,
 * knows the upload never ended (upload-store.ts `uploadedFile`).
 */
import fs from "node:fs";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BadInputError } from "../ingest/ingest-errors.ts";
import { streamToSink, teeTo } from "../outbound/body-limits.ts";

/** Where an upload is written while it arrives; renamed to `uploadPath` once complete. */
export function uploadPartPath(uploadPath: string): string {
  return `${uploadPath}.part`;
}

/** The episode's ingest stopped (cancelled, failed, taken over) before its upload ended: the request is answered with this. */
export class UploadStoppedError extends Error {
  override name = "UploadStoppedError";
}

/** An upload body as the HTTP routes hand it over. */
export interface IncomingUpload {
  body: NodeJS.ReadableStream | AsyncIterable<Uint8Array>;
  /** PODFLEET_MAX_AUDIO_BYTES: the body fails with BadInputError too_large past it. */
  maxBytes: number;
  /** Content-Length when the client sent one (the autoscaler's early demand hint). */
  declaredBytes?: number | undefined;
  /** A body that sends nothing for this long fails with BadInputError stalled (PODFLEET_UPLOAD_IDLE_SEC). */
  idleMs?: number | undefined;
}

/** Bytes read from the file per piece handed to the decoder. */
const READ_BYTES = 256 * 1024;

export class UploadReceipt {
  /** Bytes written to the file so far: a reader never reads past them. */
  private written = 0;
  private state: "receiving" | "received" | "failed" = "receiving";
  private error: Error | undefined;
  private waiters: Array<() => void> = [];
  private readonly stop = new AbortController();
  private ended!: () => void;
  /** Resolves (never rejects) once the receipt is complete or has failed and its part file is gone. */
  readonly settled = new Promise<void>((resolve) => (this.ended = resolve));

  private constructor(
    readonly uploadPath: string,
    /** Content-Length when the client sent one. */
    readonly declaredBytes: number | undefined,
    private readonly file: fs.promises.FileHandle,
  ) {}

  /** Creates the part file (owner-only; an existing one is an error: ids are unique). */
  static async open(uploadPath: string, declaredBytes?: number): Promise<UploadReceipt> {
    return new UploadReceipt(uploadPath, declaredBytes, await fs.promises.open(uploadPartPath(uploadPath), "wx", 0o600));
  }

  /**
   * Writes `upload.body` to the part file, then renames it and runs `keep` (the upload store);
   * resolves with the byte count, or rejects with the reason the upload failed: BadInputError
   * too_large, stalled (nothing for `idleMs`) or fetch_failed (the body was cut), UploadStoppedError
   * (abandoned), or `keep`'s error.
   */
  async receive(upload: IncomingUpload, keep: () => Promise<void>): Promise<number> {
    let renamed = false;
    try {
      const bytes = await streamToSink(upload.body, this.sink(), {
        maxBytes: upload.maxBytes,
        idleMs: upload.idleMs,
        what: "upload",
        signal: this.stop.signal,
      }).catch((err: unknown) => {
        if (this.stop.signal.aborted) throw this.stop.signal.reason;
        if (err instanceof BadInputError) throw err;
        throw new BadInputError("fetch_failed", "the upload was interrupted before its end", { cause: err });
      });
      await fs.promises.rename(uploadPartPath(this.uploadPath), this.uploadPath);
      renamed = true;
      await keep();
      this.stop.signal.throwIfAborted();
      this.finish("received");
      this.ended();
      return bytes;
    } catch (err) {
      // readers learn the reason first, so none meets the files removed without it
      this.finish("failed", err instanceof Error ? err : new Error(String(err)));
      await this.file.close().catch(() => undefined);
      fs.rmSync(uploadPartPath(this.uploadPath), { force: true });
      if (renamed) fs.rmSync(this.uploadPath, { force: true });
      this.ended();
      throw err;
    }
  }

  /** Gives up a receipt that has not started receiving (the episode could not be recorded). */
  async discard(): Promise<void> {
    await this.file.close().catch(() => undefined);
    this.finish("failed", new UploadStoppedError("the upload was not recorded"));
    fs.rmSync(uploadPartPath(this.uploadPath), { force: true });
    this.ended();
  }

  /** Stops a receipt still receiving (its ingest ended first): the body is cut and the request answered with `reason`. */
  abandon(reason: UploadStoppedError): void {
    if (this.state === "receiving" && !this.stop.signal.aborted) this.stop.abort(reason);
  }

  /**
   * Writes the upload's bytes to `copy` (ffmpeg's stdin) as they arrive, from the first; resolves
   * once the whole upload is received and read. If `copy` closes (ffmpeg gave up on the bytes) the
   * file is still followed to its end, so the caller can decode the complete file instead.
   */
  async pipeTo(copy: Writable, signal?: AbortSignal): Promise<{ path: string; bytes: number }> {
    const discard = new Writable({ write: (_piece, _enc, done) => done() });
    await pipeline(this.follow(signal), teeTo(copy), discard);
    return { path: this.uploadPath, bytes: this.written };
  }

  /** The upload's bytes as a stream that follows the file as it grows; fails with the receipt's reason. */
  follow(signal?: AbortSignal): Readable {
    return Readable.from(this.pieces(signal), { objectMode: false });
  }

  private async *pieces(signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
    const fh = await this.openForReading();
    try {
      let at = 0;
      for (;;) {
        signal?.throwIfAborted();
        if (this.state === "failed") throw this.error!;
        if (at < this.written) {
          const want = Math.min(this.written - at, READ_BYTES);
          const buf = Buffer.allocUnsafe(want);
          const { bytesRead } = await fh.read(buf, 0, want, at);
          if (bytesRead === 0) throw new Error(`the upload file ended at ${at} of the ${this.written} bytes written`);
          at += bytesRead;
          yield buf.subarray(0, bytesRead);
        } else if (this.state === "received") {
          return;
        } else {
          await this.changed(signal);
        }
      }
    } finally {
      await fh.close();
    }
  }

  /** The file under whichever name it has now (renamed once complete). */
  private async openForReading(): Promise<fs.promises.FileHandle> {
    try {
      return await fs.promises.open(uploadPartPath(this.uploadPath), "r");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      if (this.state === "failed") throw this.error!;
      return fs.promises.open(this.uploadPath, "r");
    }
  }

  /** Appends each piece to the part file, then tells the readers how far it is written. */
  private sink(): Writable {
    let closed = false;
    const close = async () => {
      if (closed) return;
      closed = true;
      await this.file.close();
    };
    return new Writable({
      write: (piece: Buffer, _enc, done) => {
        this.file.write(piece).then(({ bytesWritten }) => {
          this.written += bytesWritten;
          if (bytesWritten !== piece.length) return done(new Error(`short write to the upload file: ${bytesWritten} of ${piece.length} bytes`));
          this.wake();
          done();
        }, done);
      },
      final: (done) => void close().then(() => done(), done),
      destroy: (err, done) =>
        void close().then(
          () => done(err),
          () => done(err),
        ),
    });
  }

  /** The outcome, told to the readers (`settled` follows once the files are in their final state). */
  private finish(state: "received" | "failed", error?: Error): void {
    if (this.state !== "receiving") return;
    this.state = state;
    this.error = error;
    this.wake();
  }

  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }

  /** Resolves at the next write or end of the receipt (or when `signal` aborts; the caller then sees it). */
  private changed(signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const onAbort = () => resolve();
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }
}

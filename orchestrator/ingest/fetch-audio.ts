/**
 * Downloads a user-supplied audio URL to a file, safely:
 * - only http(s); redirects followed by hand (at most MAX_REDIRECTS), each hop checked again;
 * - private, loopback, link-local and metadata addresses refused unless the operator allowed
 *   them (PODFLEET_ALLOW_PRIVATE_URLS=1); the check runs on the resolved address at connect
 *   time, so DNS rebinding cannot slip past it;
 * - the body is streamed to disk and cut off at a size cap, never buffered whole;
 * - header, body and overall timeouts.
 * Failures that may pass (DNS, connect, reset, timeouts, 408/429/5xx) throw TransientFetchError;
 * the submitter's to fix (bad URL, private address, 404/410/other 4xx, too large) BadInputError.
 */
import dns from "node:dns";
import fs from "node:fs";
import net from "node:net";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Agent, request, type Dispatcher } from "undici";
import { failureFromError, failureFromStatus } from "../outbound/fetch-errors.ts";
import { BadInputError } from "./ingest-errors.ts";

const MAX_REDIRECTS = 5;

/** Address ranges a user-supplied URL may not reach by default. */
const BLOCKED = new net.BlockList();
for (const [net4, bits] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16], // link-local, includes the cloud metadata address 169.254.169.254
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 3], // multicast and reserved, up to 255.255.255.255
] as const) {
  BLOCKED.addSubnet(net4, bits, "ipv4");
}
for (const [net6, bits] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7], // unique local (Fly's 6PN private network lives here)
  ["fe80::", 10],
  ["ff00::", 8],
] as const) {
  BLOCKED.addSubnet(net6, bits, "ipv6");
}

export function isBlockedAddress(address: string): boolean {
  const family = net.isIP(address);
  if (family === 4) return BLOCKED.check(address, "ipv4");
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return BLOCKED.check(mapped[1]!, "ipv4");
    return BLOCKED.check(address, "ipv6");
  }
  return true;
}

export interface FetchAudioOptions {
  allowPrivate: boolean;
  maxBytes: number;
  /** Whole download, headers to last byte; the connect, header and idle-body timeouts never exceed it. */
  timeoutMs: number;
  /** Which resolved addresses count as private (default isBlockedAddress); tests narrow it to reach a local server. */
  isBlocked?: (address: string) => boolean;
}

export interface FetchedAudio {
  finalUrl: string;
  bytes: number;
  contentType: string | undefined;
}

/** A DNS lookup that refuses private/loopback addresses at connect time (for an undici Agent). */
export function guardedLookup(allowPrivate: boolean, isBlocked: (address: string) => boolean = isBlockedAddress): net.LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, "", 4);
      const list = addresses as dns.LookupAddress[];
      const blocked = allowPrivate ? undefined : list.find((a) => isBlocked(a.address));
      if (blocked) {
        return callback(new BadInputError("private_address", `refusing to fetch ${hostname}: it resolves to a private or loopback address`), "", 4);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      const first = list[0]!;
      callback(null, first.address, first.family);
    });
  };
}

/** Syntactic checks of a user-supplied URL: http(s) only, no literal private address or localhost. */
export function checkUrl(raw: string, allowPrivate: boolean, isBlocked: (address: string) => boolean = isBlockedAddress): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BadInputError("bad_url", `not a valid URL: ${raw.slice(0, 200)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new BadInputError("bad_url", `only http and https URLs can be fetched, not ${url.protocol}`);
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!allowPrivate && (net.isIP(host) ? isBlocked(host) : /^localhost\.?$|\.localhost\.?$/i.test(host))) {
    throw new BadInputError("private_address", `refusing to fetch ${url.host}: private and loopback addresses are not allowed (set PODFLEET_ALLOW_PRIVATE_URLS=1 to allow)`);
  }
  return url;
}

/** Fetch `rawUrl` into `destPath`. Throws BadInputError for anything the user must fix, TransientFetchError for what may pass. */
export async function fetchAudio(rawUrl: string, destPath: string, opts: FetchAudioOptions): Promise<FetchedAudio> {
  const agent = new Agent({
    connect: { lookup: guardedLookup(opts.allowPrivate, opts.isBlocked), timeout: Math.min(15_000, opts.timeoutMs) },
    headersTimeout: Math.min(30_000, opts.timeoutMs),
    bodyTimeout: Math.min(60_000, opts.timeoutMs),
  });
  const signal = AbortSignal.timeout(opts.timeoutMs);
  try {
    let url = checkUrl(rawUrl, opts.allowPrivate, opts.isBlocked);
    for (let hop = 0; ; hop++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, { dispatcher: agent, signal, headers: { "user-agent": "podfleet/0.1 (+transcription)" } });
      } catch (err) {
        throw failureFromError(err, url.host, signal.aborted, opts.timeoutMs);
      }
      if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
        await res.body.dump();
        if (hop >= MAX_REDIRECTS) throw new BadInputError("too_many_redirects", `more than ${MAX_REDIRECTS} redirects from ${rawUrl.slice(0, 200)}`);
        url = checkUrl(new URL(String(res.headers.location), url).toString(), opts.allowPrivate, opts.isBlocked);
        continue;
      }
      if (res.statusCode !== 200) {
        await res.body.dump().catch(() => undefined);
        throw failureFromStatus(res.statusCode, res.headers, `${url.host}${url.pathname}`);
      }
      const declared = Number(res.headers["content-length"] ?? NaN);
      if (declared > opts.maxBytes) {
        await res.body.dump();
        throw new BadInputError("too_large", `audio is ${declared} bytes, over the ${opts.maxBytes}-byte limit`);
      }
      let bytes: number;
      try {
        bytes = await streamToFile(res.body, destPath, opts.maxBytes, signal);
      } catch (err) {
        throw failureFromError(err, url.host, signal.aborted, opts.timeoutMs);
      }
      const ct = res.headers["content-type"];
      return { finalUrl: url.toString(), bytes, contentType: typeof ct === "string" ? ct : undefined };
    }
  } finally {
    await agent.close();
  }
}

/**
 * Stream a body into a file, failing (and leaving no file) once it passes maxBytes
 * (BadInputError too_large). Any other failure is rethrown as it came, for the caller to classify.
 */
export async function streamToFile(
  body: NodeJS.ReadableStream | AsyncIterable<Uint8Array>,
  destPath: string,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<number> {
  let bytes = 0;
  const cap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) done(new BadInputError("too_large", `audio is over the ${maxBytes}-byte limit`));
      else done(null, chunk);
    },
  });
  try {
    await pipeline(body as NodeJS.ReadableStream, cap, fs.createWriteStream(destPath), signal ? { signal } : {});
  } catch (err) {
    fs.rmSync(destPath, { force: true });
    throw err;
  }
  return bytes;
}

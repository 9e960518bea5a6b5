/**
 * How a failed download is classified: what may pass (DNS, refused or reset connections, 408,
 * 429, 5xx) is a TransientFetchError carrying the server's Retry-After; what the submitter must
 * fix (404, 410, other 4xx) is a BadInputError. Real servers on 127.0.0.1.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { BadInputError } from "../orchestrator/ingest/ingest-errors.ts";
import { fetchAudio } from "../orchestrator/ingest/fetch-audio.ts";
import { parseRetryAfter, TransientFetchError } from "../orchestrator/outbound/fetch-errors.ts";
import { pickFreePort } from "../orchestrator/free-port.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "outbound-classify-"));
const server = http.createServer((req, res) => {
  const [route, arg] = (req.url ?? "").split("?");
  if (route === "/status") {
    const [status, retryAfter] = (arg ?? "500").split(",");
    res.writeHead(Number(status), retryAfter ? { "retry-after": decodeURIComponent(retryAfter) } : {}).end("no");
    return;
  }
  res.writeHead(200, { "content-type": "audio/mpeg", "content-length": 4 }).end("abcd");
});
/** Sends headers and part of a declared body, then resets the connection. */
const resetter = net.createServer((socket) => {
  socket.once("data", () => {
    socket.write("HTTP/1.1 200 OK\r\ncontent-type: audio/mpeg\r\ncontent-length: 1000000\r\n\r\n");
    socket.write(Buffer.alloc(10_000, 1), () => socket.resetAndDestroy());
  });
});
let base = "";
let resetUrl = "";
before(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  await new Promise<void>((r) => resetter.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  resetUrl = `http://127.0.0.1:${(resetter.address() as AddressInfo).port}/a.mp3`;
});
after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await new Promise<void>((r) => resetter.close(() => r()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function failure(url: string): Promise<unknown> {
  const dest = path.join(tmp, `dl-${Math.random().toString(36).slice(2)}`);
  const err = await fetchAudio(url, dest, { allowPrivate: true, maxBytes: 10_000_000, timeoutMs: 5_000 }).then(
    () => assert.fail(`${url} was fetched`),
    (e: unknown) => e,
  );
  assert.equal(fs.existsSync(dest), false, "no partial file left");
  return err;
}

describe("HTTP statuses", () => {
  for (const [status, code] of [
    [429, "rate_limited"],
    [408, "fetch_timeout"],
    [500, "server_error"],
    [503, "server_error"],
  ] as const) {
    test(`${status} → TransientFetchError ${code}`, async () => {
      const err = await failure(`${base}/status?${status}`);
      assert.ok(err instanceof TransientFetchError, String(err));
      assert.equal(err.code, code);
      assert.equal(err.retryAfterMs, undefined);
    });
  }
  test("429 with Retry-After: 7 → retryAfterMs 7000", async () => {
    const err = await failure(`${base}/status?429,7`);
    assert.ok(err instanceof TransientFetchError, String(err));
    assert.equal(err.retryAfterMs, 7000);
  });
  test("503 with Retry-After as an HTTP date → about that long", async () => {
    const when = new Date(Date.now() + 120_000).toUTCString();
    const err = await failure(`${base}/status?503,${encodeURIComponent(when)}`);
    assert.ok(err instanceof TransientFetchError, String(err));
    assert.ok(err.retryAfterMs !== undefined && err.retryAfterMs > 110_000 && err.retryAfterMs <= 120_000, String(err.retryAfterMs));
  });
  for (const status of [404, 410, 403, 400]) {
    test(`${status} → BadInputError fetch_failed`, async () => {
      const err = await failure(`${base}/status?${status}`);
      assert.ok(err instanceof BadInputError, String(err));
      assert.equal(err.code, "fetch_failed");
      assert.match(err.message, new RegExp(`HTTP ${status}`));
    });
  }
});

describe("network failures", () => {
  test("connection refused → TransientFetchError connect_failed", async () => {
    const err = await failure(`http://127.0.0.1:${await pickFreePort()}/a.mp3`);
    assert.ok(err instanceof TransientFetchError, String(err));
    assert.equal(err.code, "connect_failed");
  });
  test("a reset mid-body → TransientFetchError connection_reset", async () => {
    const err = await failure(resetUrl);
    assert.ok(err instanceof TransientFetchError, String(err));
    assert.equal(err.code, "connection_reset");
  });
  test("a name that does not resolve → TransientFetchError dns_failed", async () => {
    const err = await failure("http://no-such-host.invalid/a.mp3");
    assert.ok(err instanceof TransientFetchError, String(err));
    assert.equal(err.code, "dns_failed");
  });
  test("a server that answers → fetched (the failures above are about the server)", async () => {
    const r = await fetchAudio(`${base}/ok.mp3`, path.join(tmp, "ok"), { allowPrivate: true, maxBytes: 100, timeoutMs: 5_000 });
    assert.equal(r.bytes, 4);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-12-01T12:00:00Z");
  test("delta-seconds", () => assert.equal(parseRetryAfter("120", now), 120_000));
  test("an HTTP date", () => assert.equal(parseRetryAfter("Tue, 01 Dec 2026 12:00:30 GMT", now), 30_000));
  test("a date in the past → 0", () => assert.equal(parseRetryAfter("Tue, 01 Dec 2026 11:00:00 GMT", now), 0));
  test("absent or garbage → undefined", () => {
    assert.equal(parseRetryAfter(undefined, now), undefined);
    assert.equal(parseRetryAfter("soon", now), undefined);
    assert.equal(parseRetryAfter("-5", now), undefined);
  });
});

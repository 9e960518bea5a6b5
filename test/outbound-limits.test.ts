/**
 * Body limits of the outbound module: a server trickling a byte a second is cut off as too_slow
 * (transient) once a rate window ends, long before the overall timeout; a server at a decent rate
 * is not; and the settings that drive it are parsed with the rest of the config.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { parseConfig } from "../orchestrator/config.ts";
import { fetchAudio } from "../orchestrator/ingest/fetch-audio.ts";
import { TransientFetchError } from "../orchestrator/outbound/fetch-errors.ts";

/** Serves 4 KiB at `bytesPerTick` bytes every `tickMs` (content-length given). */
async function pacedServer(t: { after(fn: () => Promise<void>): void }, bytesPerTick: number, tickMs: number): Promise<string> {
  const server = http.createServer((_req, res) => {
    const total = 4096;
    res.writeHead(200, { "content-type": "audio/mpeg", "content-length": total });
    let sent = 0;
    const tick = setInterval(() => {
      const n = Math.min(bytesPerTick, total - sent);
      res.write(Buffer.alloc(n, 0x41));
      sent += n;
      if (sent >= total) {
        clearInterval(tick);
        res.end();
      }
    }, tickMs);
    res.on("close", () => clearInterval(tick));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/a.mp3`;
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "outbound-limits-"));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test("a server trickling a byte a second is aborted as too_slow after one window", async (t) => {
  // 1 B/s against a minimum of 200 B/s over 1 s windows
  const url = await pacedServer(t, 1, 1_000);
  const dest = path.join(tmp, "slow");
  const started = Date.now();
  const err = await fetchAudio(url, dest, {
    allowPrivate: true,
    maxBytes: 1 << 20,
    timeoutMs: 60_000,
    minRate: { bytesPerSec: 200, windowMs: 1_000 },
  }).catch((e: unknown) => e);
  const took = Date.now() - started;
  assert.ok(err instanceof TransientFetchError, String(err));
  assert.equal(err.code, "too_slow");
  assert.match(err.message, /too slow: \d+ bytes in 1 s, under the minimum of 200 bytes\/s/);
  assert.ok(took >= 900 && took < 5_000, `aborted after ${took} ms (window 1 s, overall timeout 60 s)`);
  assert.equal(fs.existsSync(dest), false, "no partial file left");
});

test("the same server at a decent pace passes the same minimum", async (t) => {
  const url = await pacedServer(t, 512, 100); // 5 KiB/s
  const r = await fetchAudio(url, path.join(tmp, "fine"), {
    allowPrivate: true,
    maxBytes: 1 << 20,
    timeoutMs: 60_000,
    minRate: { bytesPerSec: 200, windowMs: 1_000 },
  });
  assert.equal(r.bytes, 4096);
});

test("without a minimum rate the trickle is only bounded by the overall timeout", async (t) => {
  const url = await pacedServer(t, 1, 1_000);
  const err = await fetchAudio(url, path.join(tmp, "untimed"), { allowPrivate: true, maxBytes: 1 << 20, timeoutMs: 1_500 }).catch((e: unknown) => e);
  assert.ok(err instanceof TransientFetchError, String(err));
  assert.equal(err.code, "fetch_timeout");
});

test("PODFLEET_FETCH_MIN_BYTES_PER_SEC / _MIN_RATE_WINDOW_SEC: defaults, values, and bad values named", () => {
  const opts = { dataDir: tmp, port: 0 };
  assert.deepEqual(parseConfig({}, opts).fetchMinRate, { bytesPerSec: 8192, windowSec: 30 });
  assert.deepEqual(parseConfig({ PODFLEET_FETCH_MIN_BYTES_PER_SEC: "0", PODFLEET_FETCH_MIN_RATE_WINDOW_SEC: "5" }, opts).fetchMinRate, {
    bytesPerSec: 0,
    windowSec: 5,
  });
  assert.throws(() => parseConfig({ PODFLEET_FETCH_MIN_RATE_WINDOW_SEC: "0" }, opts), /PODFLEET_FETCH_MIN_RATE_WINDOW_SEC/);
  assert.throws(() => parseConfig({ PODFLEET_FETCH_MIN_BYTES_PER_SEC: "fast" }, opts), /PODFLEET_FETCH_MIN_BYTES_PER_SEC/);
});

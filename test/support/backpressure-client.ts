/**
 * Child process for test/outbound-backpressure.test.ts: makes ONE outbound call of the product
 * (`argv[2]` names which) against the server at `argv[3]`, prints `RESULT <json>` describing how
 * it ended, and exits 0. If the HTTP client threw from a socket handler (undici #5360) the
 * process dies instead, with a non-zero code and the stack on stderr, and the test sees that.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { ApiClient } from "../../orchestrator/cli/api-client.ts";
import { sendCallback } from "../../orchestrator/delivery/callback-sender.ts";
import { fetchFeed } from "../../orchestrator/feeds/feed-fetch.ts";
import { MachinesClient } from "../../orchestrator/fleet/machines-client.ts";
import { fetchAudio } from "../../orchestrator/ingest/fetch-audio.ts";
import { pullModel } from "../../orchestrator/models/model-download.ts";

const [which, base] = process.argv.slice(2) as [string, string];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "backpressure-child-"));

const calls: Record<string, () => Promise<unknown>> = {
  audio: () => fetchAudio(`${base}/a.mp3`, path.join(tmp, "a.mp3"), { allowPrivate: true, maxBytes: 64 << 20, timeoutMs: 30_000 }),
  feed: () =>
    fetchFeed(`${base}/feed.xml`, { etag: null, lastModified: null }, { allowPrivate: true, maxBytes: 64 << 20, maxRedirects: 5, timeoutMs: 30_000 }),
  callback: () =>
    sendCallback(`${base}/hook`, "msg_backpressure", '{"type":"episode.done"}', Date.now(), {
      secret: `whsec_${Buffer.from("k".repeat(32)).toString("base64")}`,
      allowPrivate: true,
      timeoutMs: 30_000,
    }),
  model: () =>
    pullModel({
      name: "big",
      dir: path.join(tmp, "models"),
      baseUrl: `${base}/m/`,
      catalog: new Map([["big", { file: "ggml-big.bin", approxMiB: 8 }]]),
    }),
  machines: () => new MachinesClient({ baseUrl: base, app: "fleet", token: "test-token", retries: 0, requestTimeoutMs: 30_000 }).list(),
  cli: () => new ApiClient(base, "test-token").get("/v1/episodes"),
};

const call = calls[which];
if (!call) throw new Error(`unknown outbound path ${which}`);
const started = Date.now();
const result = await call().then(
  (value) => ({ outcome: "returned", value: JSON.stringify(value)?.slice(0, 300) }),
  (err: unknown) => {
    const e = err as { name?: string; code?: unknown; retryable?: unknown; message?: string };
    return { outcome: "threw", name: e.name, code: e.code, retryable: e.retryable, message: e.message };
  },
);
fs.rmSync(tmp, { recursive: true, force: true });
process.stdout.write(`RESULT ${JSON.stringify({ ...result, ms: Date.now() - started })}\n`);

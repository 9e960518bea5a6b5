/**
 * Nothing one episode, feed or delivery does can end the orchestrator: each failure ends its own
 * item, with a reason, and the service goes on serving the next one. Real faults only: a callback
 * receiver that resets the connection, feed servers that reset or send what is not a feed, a work
 * directory that is a file (an ingest that throws outside its own error handling), and real
 * `throw`s in a child process for the last-resort handler.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { rawHttpServer, sendResponse } from "./support/hostile-servers.ts";
import { api, programmableServer, silentWav, startStack } from "./support/ingest-stack.ts";
import { until } from "./support/until.ts";

const run = promisify(execFile);

async function settled(base: string, id: string): Promise<{ status: string; error: string | null }> {
  return until(
    `episode ${id} to settle`,
    async () => {
      const { body } = await api(base, "GET", `/v1/episodes/${id}`);
      return ["failed", "done", "transcribing"].includes(body.status) ? body : undefined;
    },
    30_000,
  );
}

async function submit(base: string, audioUrl: string, extra: Record<string, unknown> = {}): Promise<string> {
  const res = await api(base, "POST", "/v1/episodes", { audioUrl, ...extra });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.id as string;
}

test("an ingest that throws outside its own error handling fails its episode with the reason; the next one is ingested", async (t) => {
  const orch = await startStack(t);
  const audio = await programmableServer(t, (_req, res) => res.writeHead(200, { "content-type": "audio/wav" }).end(silentWav(2)));
  // a real fault: the scratch directory every ingest creates first is a regular file
  const workDir = path.join(orch.config.dataDir, "work");
  fs.rmSync(workDir, { recursive: true, force: true });
  fs.writeFileSync(workDir, "not a directory");

  const broken = await settled(orch.url, await submit(orch.url, `${audio.url}/a.wav`));
  assert.equal(broken.status, "failed");
  assert.match(broken.error ?? "", /unexpected error.*EEXIST/);

  fs.rmSync(workDir);
  const healthy = await settled(orch.url, await submit(orch.url, `${audio.url}/b.wav`));
  assert.equal(healthy.status, "transcribing", `the next episode should be ingested (no workers here): ${healthy.error}`);
  assert.equal((await api(orch.url, "GET", "/healthz")).status, 200);
});

test("a callback receiver that resets the connection costs one recorded attempt; other deliveries go on", async (t) => {
  const orch = await startStack(t);
  const audio = await programmableServer(t, (_req, res) => res.writeHead(404).end("gone"));
  const resetter = await rawHttpServer((_req, socket) => socket.resetAndDestroy());
  t.after(() => resetter.close());
  const receiver = await programmableServer(t, (_req, res) => res.writeHead(204).end());

  const hostile = await submit(orch.url, `${audio.url}/x.wav`, { callbackUrl: `${resetter.url}/hook` });
  const fine = await submit(orch.url, `${audio.url}/y.wav`, { callbackUrl: `${receiver.url}/hook` });
  const deliveries = async (id: string) =>
    (await api(orch.url, "GET", `/v1/episodes/${id}/deliveries`)).body.deliveries as Array<{
      state: string;
      attempts: Array<{ error: string | null; httpStatus: number | null }>;
    }>;

  const [attempted] = await until(
    "the reset delivery's first attempt",
    async () => {
      const d = await deliveries(hostile);
      return d.length > 0 && d[0]!.attempts.length > 0 ? d : undefined;
    },
    30_000,
  );
  assert.equal(attempted!.state, "pending", "a reset is retried later, not given up");
  assert.equal(attempted!.attempts[0]!.httpStatus, null);
  assert.ok((attempted!.attempts[0]!.error ?? "").length > 0, "the attempt records why it failed");
  assert.ok(resetter.hits.size > 0, "the resetting receiver was really called");

  const [delivered] = await until(
    "the other delivery",
    async () => {
      const d = await deliveries(fine);
      return d[0]?.state === "delivered" ? d : undefined;
    },
    30_000,
  );
  assert.equal(delivered!.attempts.length, 1);
  assert.equal((await api(orch.url, "GET", "/healthz")).status, 200);
});

test("hostile feed documents end their own poll with a reason; a good feed beside them is read and queued", async (t) => {
  const orch = await startStack(t);
  const audio = await programmableServer(t, (_req, res) => res.writeHead(200, { "content-type": "audio/wav" }).end(silentWav(2)));
  const good = `<?xml version="1.0"?><rss version="2.0"><channel><title>Good</title>
    <item><title>One</title><guid>g1</guid><pubDate>${new Date(Date.now() - 3600_000).toUTCString()}</pubDate>
    <enclosure url="${audio.url}/one.wav" type="audio/wav" length="64044"/></item></channel></rss>`;
  const laughs = `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
    <rss version="2.0"><channel><title>&c;</title></channel></rss>`;
  const feeds = await rawHttpServer((req, socket) => {
    if (req.path === "/good.xml") return sendResponse(socket, "200 OK", good, { "content-type": "application/rss+xml" });
    if (req.path === "/laughs.xml") return sendResponse(socket, "200 OK", laughs, { "content-type": "application/rss+xml" });
    if (req.path === "/deep.xml")
      return sendResponse(socket, "200 OK", `<rss version="2.0"><channel>${"<x>".repeat(100_000)}${"</x>".repeat(100_000)}</channel></rss>`);
    if (req.path === "/binary.xml")
      return sendResponse(socket, "200 OK", Buffer.from([0, 1, 2, 0xff, 0xfe, 0x3c, 0x3f]), { "content-type": "application/rss+xml" });
    // /reset.xml: half a document, then a TCP reset
    socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/rss+xml\r\ncontent-length: ${good.length}\r\n\r\n${good.slice(0, 80)}`, () =>
      socket.resetAndDestroy(),
    );
  });
  t.after(() => feeds.close());

  for (const name of ["reset", "laughs", "deep", "binary"]) {
    const res = await api(orch.url, "POST", "/v1/feeds", { url: `${feeds.url}/${name}.xml`, backfill: 1 });
    assert.equal(res.status, 201, `${name}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.poll.status, "error", `${name} should fail its poll`);
    assert.ok(String(res.body.feed.lastError ?? "").length > 0, `${name} records why`);
    assert.doesNotMatch(String(res.body.feed.lastError), /internal error/i);
  }
  const res = await api(orch.url, "POST", "/v1/feeds", { url: `${feeds.url}/good.xml`, backfill: 1 });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  assert.equal(res.body.poll.status, "ok");
  assert.equal(res.body.poll.queued, 1, "the good feed's item becomes a job");
  assert.equal((await api(orch.url, "GET", "/healthz")).status, 200);
});

test("the last-resort handler logs and survives a throw from a timer and an unawaited rejection, without secrets; a burst stops the service", async () => {
  const script = `
    import { createLogger, registerSecret } from "./orchestrator/log.ts";
    import { installLastResortHandler, escapedErrorCounts } from "./orchestrator/last-resort-handler.ts";
    registerSecret("s3cret-token-value");
    let tooMany = "";
    installLastResortHandler({ log: createLogger("info"), maxEscapes: 3, windowMs: 60_000, onTooMany: (s) => (tooMany = s) });
    setTimeout(() => { throw new Error("timer blew up with s3cret-token-value and http://user:pw@host/x"); }, 1);
    setTimeout(() => { Promise.reject(new TypeError("nobody awaited this")); }, 5);
    setTimeout(() => {
      const after2 = escapedErrorCounts();
      for (let i = 0; i < 3; i++) setTimeout(() => { throw new Error("again " + i); }, 1);
      setTimeout(() => { console.log(JSON.stringify({ after2, counts: escapedErrorCounts(), tooMany })); }, 50);
    }, 50);
  `;
  const root = path.resolve(import.meta.dirname, "..");
  const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: root, timeout: 30_000 });
  const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
  assert.deepEqual(result.after2, { uncaught_exception: 1, unhandled_rejection: 1 }, "both were survived and counted");
  assert.deepEqual(result.counts, { uncaught_exception: 4, unhandled_rejection: 1 });
  assert.match(result.tooMany, /^4 errors escaped/);
  assert.match(stderr, /"an error escaped its item; the orchestrator keeps running"/);
  assert.match(stderr, /timer blew up/);
  assert.match(stderr, /nobody awaited this/);
  assert.doesNotMatch(stderr, /s3cret-token-value|user:pw@/);
});

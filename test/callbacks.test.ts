/**
 * Signed completion callbacks: the delivery pass on a real libSQL file with an injected clock
 * (retries without sleeping), a receiver on 127.0.0.1 that fails twice then succeeds, and the
 * whole orchestrator delivering episode.failed for a job whose audio cannot be fetched, shown by
 * `jobs show`; plus the published podcast:transcript elements.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { Webhook } from "standardwebhooks";
import { DeliveryService, MAX_DELIVERY_ATTEMPTS, RETRY_DELAYS_SEC } from "../orchestrator/delivery/delivery-service.ts";
import { podcastTranscriptElements } from "../orchestrator/delivery/transcript-links.ts";
import { createLogger } from "../orchestrator/log.ts";
import { EpisodeLinks } from "../orchestrator/sources/episode-links.ts";
import { newSecret } from "../orchestrator/sources/webhook-signature.ts";
import { Database } from "../orchestrator/store/database.ts";
import { EpisodeStore } from "../orchestrator/store/episode-store.ts";
import { runCli } from "./support/cli.ts";
import { api, programmableServer, startStack, type CleanupContext } from "./support/ingest-stack.ts";
import { watchEvents } from "./support/state-events.ts";

async function openDb(t: CleanupContext): Promise<Database> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-cb-"));
  const db = await Database.open(`file:${path.join(dir, "db.sqlite")}`);
  t.after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return db;
}

/** A finished episode with a callback URL, recorded the way the service records one. */
async function finishedEpisode(db: Database, id: string, callbackUrl: string, status: "failed" = "failed"): Promise<void> {
  const store = new EpisodeStore(db);
  const link = await new EpisodeLinks(db, { allowPrivateUrls: true }).prepare(id, { callbackUrl });
  await store.createEpisode(
    { id, title: "Callback test", sourceKind: "url", sourceUrl: "https://example.com/a.mp3", uploadPath: null, chunkSeconds: 60, language: "de-DE" },
    link,
  );
  await store.transitionEpisode(id, status, { error: "audio could not be fetched" });
}

describe("callback deliveries (injected clock)", () => {
  test("a receiver failing twice then succeeding gets exactly one successful, validly signed delivery", async (t) => {
    const db = await openDb(t);
    let calls = 0;
    const receiver = await programmableServer(t, (_req, res) => {
      calls++;
      res.writeHead(calls <= 2 ? 500 : 204).end();
    });
    await finishedEpisode(db, "ep_cb1", `${receiver.url}/hook`);
    const secret = newSecret("standard")!;
    let now = Date.now();
    const deliveries = new DeliveryService({
      database: db,
      secret,
      publicUrl: () => "https://pf.example",
      allowPrivateUrls: true,
      log: createLogger("silent"),
      now: () => now,
    });

    assert.deepEqual(await deliveries.pass(), { created: 1, attempted: 1, delivered: 0 });
    assert.deepEqual(await deliveries.pass(), { created: 0, attempted: 0, delivered: 0 }, "not due before the backoff");
    now += RETRY_DELAYS_SEC[0] * 1000;
    assert.deepEqual(await deliveries.pass(), { created: 0, attempted: 1, delivered: 0 });
    now += (RETRY_DELAYS_SEC[1] - 1) * 1000;
    assert.equal((await deliveries.pass()).attempted, 0);
    now += 1000;
    assert.deepEqual(await deliveries.pass(), { created: 0, attempted: 1, delivered: 1 });
    now += 24 * 3600 * 1000;
    assert.deepEqual(await deliveries.pass(), { created: 0, attempted: 0, delivered: 0 }, "a delivered event is never sent again");

    assert.equal(receiver.requests.length, 3);
    const ids = new Set(receiver.requests.map((r) => r.headers["webhook-id"]));
    assert.equal(ids.size, 1, "every attempt carries the same webhook-id");
    const last = receiver.requests[2]!;
    const headers = Object.fromEntries(Object.entries(last.headers).map(([k, v]) => [k, String(v)]));
    const event = new Webhook(secret).verify(last.body, headers) as {
      type: string;
      data: { episodeId: string; status: string; error: string; language: string };
    };
    assert.equal(event.type, "episode.failed");
    assert.equal(event.data.episodeId, "ep_cb1");
    assert.equal(event.data.status, "failed");
    assert.equal(event.data.language, "de-DE");
    assert.throws(() => new Webhook(newSecret("standard")!).verify(last.body, headers), "another secret does not verify");

    const [view] = await deliveries.forEpisode("ep_cb1");
    assert.equal(view!.state, "delivered");
    assert.deepEqual(
      view!.attempts.map((a) => a.httpStatus),
      [500, 500, 204],
    );
  });

  test("a receiver that never succeeds is given up after the last attempt, every attempt recorded", async (t) => {
    const db = await openDb(t);
    const receiver = await programmableServer(t, (_req, res) => res.writeHead(503).end());
    await finishedEpisode(db, "ep_cb2", `${receiver.url}/down`);
    let now = Date.now();
    const deliveries = new DeliveryService({
      database: db,
      secret: newSecret("standard")!,
      publicUrl: () => "https://pf.example",
      allowPrivateUrls: true,
      log: createLogger("silent"),
      now: () => now,
    });
    for (let i = 0; i < MAX_DELIVERY_ATTEMPTS + 2; i++) {
      await deliveries.pass();
      now += 13 * 3600 * 1000;
    }
    const [view] = await deliveries.forEpisode("ep_cb2");
    assert.equal(view!.state, "failed");
    assert.equal(view!.attempts.length, MAX_DELIVERY_ATTEMPTS);
    assert.equal(receiver.requests.length, MAX_DELIVERY_ATTEMPTS);
  });

  test("podcast:transcript elements: every format, captions on timed ones", () => {
    const xml = podcastTranscriptElements("https://pf.example/", "ep_1", "en");
    const lines = xml.trim().split("\n");
    assert.equal(lines.length, 4);
    assert.match(
      lines[0]!,
      /^<podcast:transcript url="https:\/\/pf\.example\/v1\/episodes\/ep_1\/transcript\.vtt" type="text\/vtt" language="en" rel="captions" \/>$/,
    );
    assert.ok(lines.find((l) => l.includes("transcript.srt") && l.includes('type="application/x-subrip"') && l.includes('rel="captions"')));
    assert.ok(lines.find((l) => l.includes("transcript.txt") && !l.includes("rel=")));
  });
});

describe("callbacks through the orchestrator", () => {
  test("episode.failed reaches the callback URL and jobs show lists the delivery", async (t) => {
    const orch = await startStack(t);
    const watch = watchEvents(t, orch.events);
    const receiver = await programmableServer(t, (_req, res) => res.writeHead(200).end("ok"));
    const missing = await programmableServer(t, (_req, res) => res.writeHead(404).end());
    const bad = await api(orch.url, "POST", "/v1/episodes", { audioUrl: `${missing.url}/a.mp3`, callbackUrl: "ftp://nope/x" });
    assert.equal(bad.status, 400, "a callback URL that cannot be used is refused up front");

    const sub = await api(orch.url, "POST", "/v1/episodes", { audioUrl: `${missing.url}/gone.mp3`, callbackUrl: `${receiver.url}/done` });
    assert.equal(sub.status, 202, JSON.stringify(sub.body));
    const id = sub.body.id as string;
    await watch.waitFor("delivery:attempt", (e) => e.episodeId === id && e.state === "delivered", {
      timeoutMs: 30_000,
      what: "the callback delivered",
    });
    const req = receiver.requests[0]!;
    const { secret } = (await api(orch.url, "GET", "/v1/callbacks/signing-secret")).body;
    const event = new Webhook(secret).verify(req.body, Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]))) as {
      type: string;
      data: { episodeId: string };
    };
    assert.equal(event.type, "episode.failed");
    assert.equal(event.data.episodeId, id);

    // the event comes after the attempt's commit: the API shows it at once
    const deliveries = (await api(orch.url, "GET", `/v1/episodes/${id}/deliveries`)).body.deliveries;
    assert.equal(deliveries[0].state, "delivered");
    assert.equal(deliveries[0].attempts.length, 1);

    const shown = await runCli(["jobs", "show", id], { PODFLEET_URL: orch.url, PODFLEET_TOKEN: orch.adminToken }, 60_000);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /callback\s+episode\.failed .* delivered/);
    assert.match(shown.stdout, /#1 .* 200 /);

    const xml = await api(orch.url, "GET", `/v1/episodes/${id}/podcast-transcript.xml`);
    assert.equal(xml.status, 409, "transcripts are published only once an episode is done");
  });

  test("a finished episode wakes the delivery: its callback goes out without waiting for the scan", async (t) => {
    // the scan runs once at start, then an hour later: only the episode's event can send this callback in time
    const orch = await startStack(t, {}, { callbackIntervalMs: 3_600_000 });
    const watch = watchEvents(t, orch.events);
    const receiver = await programmableServer(t, (_req, res) => res.writeHead(204).end());
    const missing = await programmableServer(t, (_req, res) => res.writeHead(404).end());
    const sub = await api(orch.url, "POST", "/v1/episodes", { audioUrl: `${missing.url}/gone.mp3`, callbackUrl: `${receiver.url}/done` });
    assert.equal(sub.status, 202, JSON.stringify(sub.body));
    const id = sub.body.id as string;
    const failed = await watch.episode(id, "failed", { timeoutMs: 30_000 });
    const delivered = await watch.waitFor("delivery:attempt", (e) => e.episodeId === id, { timeoutMs: 30_000, what: "the callback attempt" });
    assert.equal(delivered.state, "delivered", JSON.stringify(delivered));
    assert.equal(delivered.event, "episode.failed");
    assert.equal(receiver.requests.length, 1);
    assert.ok(delivered.at >= failed.at, "attempted after the episode failed");
  });

  test("a failed attempt is retried when its back-off ends, not at the next scan", async (t) => {
    const orch = await startStack(t, {}, { callbackIntervalMs: 3_600_000 });
    const watch = watchEvents(t, orch.events);
    let calls = 0;
    const receiver = await programmableServer(t, (_req, res) => res.writeHead(++calls === 1 ? 503 : 204).end());
    const missing = await programmableServer(t, (_req, res) => res.writeHead(404).end());
    const sub = await api(orch.url, "POST", "/v1/episodes", { audioUrl: `${missing.url}/gone.mp3`, callbackUrl: `${receiver.url}/done` });
    const id = sub.body.id as string;
    const first = await watch.waitFor("delivery:attempt", (e) => e.episodeId === id && e.attempt === 1, {
      timeoutMs: 30_000,
      what: "the first attempt",
    });
    assert.equal(first.state, "pending");
    assert.equal(first.nextAttemptAt, first.at + RETRY_DELAYS_SEC[0] * 1000);
    const second = await watch.waitFor("delivery:attempt", (e) => e.episodeId === id && e.attempt === 2, { timeoutMs: 30_000, what: "the retry" });
    assert.equal(second.state, "delivered");
    assert.ok(second.at >= first.nextAttemptAt, "not before it was due");
    t.diagnostic(`retry ran ${second.at - first.nextAttemptAt} ms after it was due (machine shared with other work)`);
  });
});

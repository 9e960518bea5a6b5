/**
 * Two real orchestrators on one libSQL file and one nats-server (as on a cluster): orchestrator A
 * is `podfleet up` (a child process, no workers), B runs in this process with local workers.
 * - A's ingest is mid-download when B starts: B does not run it too (A's claim is live).
 * - A is SIGKILLed (it releases nothing): B's takeover pass claims the expired ingest, downloads
 *   again and resumes after A's recorded chunks; the episode completes with every chunk done once.
 * - A stitch whose owner died (an episode left "stitching" under a claim nobody renews) is
 *   finished by the next orchestrator's takeover pass.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { WorkClaims } from "../orchestrator/cluster/work-claims.ts";
import { createLogger } from "../orchestrator/log.ts";
import { Database } from "../orchestrator/store/database.ts";
import { EpisodeStore, type PlannedChunk } from "../orchestrator/store/episode-store.ts";
import { authHeaders } from "./support/auth.ts";
import { stallFirstRequest } from "./support/stalling-server.ts";
import { startFleetStack } from "./support/fleet-stack.ts";
import { startStack } from "./support/ingest-stack.ts";
import { startTestNats } from "./support/nats.ts";
import { parseStrict } from "./support/prometheus-text.ts";
import { episodeStatus, killAllUsing, startUp, until } from "./support/up-process.ts";

const run = promisify(execFile);

async function claimRow(database: Database, kind: string, episodeId: string): Promise<Record<string, unknown> | undefined> {
  const r = await database.client.execute({ sql: "select * from work_claims where kind = ? and episode_id = ?", args: [kind, episodeId] });
  return r.rows[0];
}

async function dbNow(database: Database): Promise<number> {
  const r = await database.client.execute("select cast((julianday('now') - 2440587.5) * 86400000 as integer) as now");
  return Number(r.rows[0]!.now);
}

test("an ingest whose orchestrator dies is taken over by another; a second orchestrator starting mid-ingest leaves it alone", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-takeover-"));
  const dirA = path.join(dir, "a");
  t.after(() => {
    killAllUsing(dirA);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const mp3 = path.join(dir, "a.mp3");
  await run("ffmpeg", [
    ...["-nostdin", "-loglevel", "error", "-f", "lavfi"],
    ...["-i", "aevalsrc=0.5*sin(2*PI*220*t)*lt(mod(t\\,4.6)\\,4):s=22050:d=150", "-c:a", "libmp3lame", "-b:a", "64k", mp3],
  ]);
  const bytes = fs.readFileSync(mp3);
  // first request: 60 % of the file, then nothing (A is stuck mid-ingest); later requests: the whole file
  const audio = await stallFirstRequest(t, bytes);
  const audioUrl = audio.url;

  const nats = await startTestNats(t);
  const dbUrl = `file:${path.join(dir, "shared.db")}`;
  const common = {
    NATS_URL: nats.url,
    DATABASE_URL: dbUrl,
    PODFLEET_CLAIM_TTL_SEC: "2",
    PODFLEET_ALLOW_PRIVATE_URLS: "1",
    PODFLEET_CHUNK_PAD_SECONDS: "0",
    PODFLEET_ENGINE: "synthetic",
    PODFLEET_SYNTHETIC_RTF: "0.01",
  };
  const a = await startUp(dirA, { ...common, PODFLEET_MAX_MACHINES: "0", PODFLEET_LOG_LEVEL: "info" });
  const res = await fetch(`${a.url}/v1/episodes`, {
    method: "POST",
    headers: { "content-type": "application/json", ...authHeaders(a.url) },
    body: JSON.stringify({ audioUrl, chunkSeconds: 20 }),
  });
  assert.equal(res.status, 202);
  const id = ((await res.json()) as { id: string }).id;
  await until("two chunks recorded by A", async () => (((await episodeStatus(a.url, id))?.chunks.total ?? 0) >= 2 ? true : undefined), 90_000);

  // no machines while both live: until the leader lease decides whose fleet runs, two fleets on one
  // database would each take the other's machines for orphans
  const b = await startFleetStack(t, { ...common, PODFLEET_MAX_MACHINES: "0" });
  const database = await Database.open(dbUrl);
  t.after(() => database.close());
  const aOwner = String((await claimRow(database, "ingest", id))?.owner);
  assert.match(aOwner, /^or_/);
  // B's takeover pass runs at its start and every second: let A renew for two more TTLs meanwhile
  const bStartedAt = await dbNow(database);
  await until("A to renew its claim well past B's start", async () =>
    Number((await claimRow(database, "ingest", id))?.expires_at) > bStartedAt + 4000 ? true : undefined,
  );
  const live = await claimRow(database, "ingest", id);
  assert.equal(live?.owner, aOwner, "the ingest is still A's");
  assert.equal(Number(live?.attempts), 1, "B never claimed it");
  assert.equal(audio.requests(), 1, "B did not download it too");

  const store = new EpisodeStore(database);
  const before = await store.listChunks(id);
  a.child.kill("SIGKILL");
  await a.exited;
  const limits = await fetch(`${b.url}/v1/fleet/limits`, {
    method: "PUT",
    headers: { "content-type": "application/json", ...authHeaders(b.url) },
    body: JSON.stringify({ maxMachines: 2 }),
  });
  assert.equal(limits.status, 200, await limits.text());

  const done = await until(
    "B to finish the episode",
    async () => {
      const ep = await b.store.getEpisode(id);
      if (ep?.status === "failed") throw new Error(`episode failed: ${ep.error}`);
      return ep?.status === "done" ? ep : undefined;
    },
    180_000,
  );
  assert.equal(audio.requests(), 2, "B downloaded the audio once");
  const claim = await claimRow(database, "ingest", id);
  assert.deepEqual([claim?.owner, claim?.taken_from, Number(claim?.taken_over)], [null, aOwner, 1], "taken over from A, released at the end");

  const chunks = await store.listChunks(id);
  const plan = JSON.parse(done.planJson!) as PlannedChunk[];
  assert.equal(chunks.length, done.chunkCount);
  assert.deepEqual(
    chunks.map((c) => c.index),
    plan.map((c) => c.index),
  );
  assert.ok(chunks.length > before.length, "B recorded the rest of the plan");
  for (const c of chunks) assert.deepEqual([c.state, c.generation, c.attempt], ["done", 1, 1], `chunk ${c.index} ran exactly once`);
  for (const old of before) {
    const now = chunks.find((c) => c.id === old.id)!;
    assert.deepEqual([now.createdAt, now.startSample, now.endSample], [old.createdAt, old.startSample, old.endSample], `chunk ${old.index} kept`);
  }
  let at = 0;
  for (const c of plan) {
    assert.equal(c.coreStartSample, at);
    at = c.coreEndSample!;
  }
  assert.equal(at, done.sampleCount, "the cores tile the episode once");

  const metrics = parseStrict(await (await fetch(`${b.url}/metrics`, { headers: authHeaders(b.url) })).text());
  assert.equal(metrics.get('podfleet_claims_taken_over_total{kind="ingest"}'), 1);
});

test("a stitch whose orchestrator died is finished by the next one's takeover pass", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-takeover-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dbUrl = `file:${path.join(dir, "shared.db")}`;
  const database = await Database.open(dbUrl);
  t.after(() => database.close());
  const store = new EpisodeStore(database);
  // an episode whose chunks are all done, stitching under a claim its dead owner no longer renews
  const id = "ep_0000000000aa00000000000000bb";
  await store.createEpisode({
    id,
    title: null,
    sourceKind: "url",
    sourceUrl: "http://127.0.0.1/x.mp3",
    uploadPath: null,
    chunkSeconds: 1,
    language: "en",
  });
  await store.transitionEpisode(id, "ingesting");
  const plan = [0, 1].map((i) => ({
    index: i,
    startSample: i * 16_000,
    endSample: (i + 1) * 16_000,
    coreStartSample: i * 16_000,
    coreEndSample: (i + 1) * 16_000,
    reason: "test",
  }));
  await store.recordPlan(id, plan, { durationSec: 2, sampleCount: 32_000 });
  for (const [i, word] of ["hello", "world"].entries()) {
    await database.client.execute({
      sql: "update chunks set state = 'done', attempt = 1, result_words = ?, word_count = 1, done_at = 1 where episode_id = ? and idx = ?",
      args: [JSON.stringify([{ text: word, start: 0.1, end: 0.5 }]), id, i],
    });
  }
  await store.transitionEpisode(id, "stitching");
  const dead = new WorkClaims(database, "or_dead_000000000000", 1000, createLogger("silent"));
  assert.deepEqual(await dead.claim("stitch", id), { owned: true, takenOver: false });

  const b = await startStack(t, { DATABASE_URL: dbUrl, PODFLEET_CLAIM_TTL_SEC: "2" });
  const ep = await until(
    "the stitch to be finished",
    async () => {
      const row = await b.store.getEpisode(id);
      if (row?.status === "failed") throw new Error(`stitch failed: ${row.error}`);
      return row?.status === "done" ? row : undefined;
    },
    30_000,
  );
  assert.equal(ep.status, "done");
  const claim = await claimRow(database, "stitch", id);
  assert.deepEqual([claim?.owner, claim?.taken_from, Number(claim?.taken_over)], [null, "or_dead_000000000000", 1]);
  const txt = await fetch(`${b.url}/v1/episodes/${id}/transcript.txt`, { headers: authHeaders(b.url) });
  assert.equal(txt.status, 200);
  assert.match(await txt.text(), /hello\s+world/);
});

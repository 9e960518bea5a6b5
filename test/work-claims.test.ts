/**
 * Work claims (orchestrator/cluster/work-claims.ts) on a real libSQL file shared by two owners,
 * as two orchestrators on one database would share it: a live claim is refused to the other, an
 * expired one is taken over (and counted), the deposed owner's renewal fails and its work is
 * aborted, and a holder that cannot reach the database stops before its claim could be taken.
 * The takeover of real orchestrators' ingests and stitches is in work-takeover.test.ts.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ClaimLostError, WorkClaims, type HeldClaim } from "../orchestrator/cluster/work-claims.ts";
import { createLogger } from "../orchestrator/log.ts";
import { SAMPLE_RATE } from "../contract/wire.ts";
import { Database } from "../orchestrator/store/database.ts";
import { EpisodeStore } from "../orchestrator/store/episode-store.ts";
import type { CleanupContext } from "./support/cleanup.ts";
import { until } from "./support/until.ts";
import { createUrlEpisode } from "./support/url-episode.ts";

const log = createLogger("silent");

async function openShared(t: CleanupContext): Promise<{ url: string; a: Database; b: Database }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-claims-"));
  const url = `file:${path.join(dir, "shared.db")}`;
  const a = await Database.open(url);
  const b = await Database.open(url);
  t.after(() => {
    a.close();
    b.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { url, a, b };
}

async function claimRow(db: Database, kind: string, episodeId: string): Promise<Record<string, unknown> | undefined> {
  const r = await db.client.execute({ sql: "select * from work_claims where kind = ? and episode_id = ?", args: [kind, episodeId] });
  return r.rows[0];
}

test("a live claim is refused to another owner; once expired it is taken over, and the old owner's renewal fails", async (t) => {
  const { a: dbA, b: dbB } = await openShared(t);
  const a = new WorkClaims(dbA, "or_a", 400, log);
  const b = new WorkClaims(dbB, "or_b", 400, log);

  assert.deepEqual(await a.claim("ingest", "ep_1"), { owned: true, takenOver: false });
  assert.deepEqual(await b.claim("ingest", "ep_1"), { owned: false }, "B is refused while A's claim is live");
  assert.deepEqual(await b.claim("stitch", "ep_1"), { owned: true, takenOver: false }, "another kind is another claim");
  assert.equal(await a.renew("ingest", "ep_1"), true);
  assert.equal(await a.holds("ingest", "ep_1"), true);
  assert.deepEqual([...(await b.live("ingest")).keys()], ["ep_1"]);

  // A stops renewing (dead, or stalled): after the TTL, B's claim succeeds and counts as a takeover
  const taken = await until("B to take the expired claim", async () => {
    const r = await b.claim("ingest", "ep_1");
    return r.owned ? r : undefined;
  });
  assert.deepEqual(taken, { owned: true, takenOver: true });
  const row = await claimRow(dbA, "ingest", "ep_1");
  assert.equal(row?.owner, "or_b");
  assert.equal(row?.taken_from, "or_a");
  assert.equal(Number(row?.taken_over), 1);
  assert.equal(Number(row?.attempts), 2);

  assert.equal(await a.renew("ingest", "ep_1"), false, "A's renewal fails: the claim is B's");
  assert.equal(await a.holds("ingest", "ep_1"), false);
  await a.release("ingest", "ep_1");
  assert.equal((await claimRow(dbA, "ingest", "ep_1"))?.owner, "or_b", "A's release leaves B's claim alone");

  await b.release("ingest", "ep_1");
  assert.deepEqual(await a.claim("ingest", "ep_1"), { owned: true, takenOver: false }, "a released claim is free at once, not a takeover");
  assert.equal(Number((await claimRow(dbA, "ingest", "ep_1"))?.taken_over), 1);
});

test("hold: renews while the work runs, so the other owner stays refused; releases at the end", async (t) => {
  const { a: dbA, b: dbB } = await openShared(t);
  const a = new WorkClaims(dbA, "or_a", 600, log);
  const b = new WorkClaims(dbB, "or_b", 600, log);
  let finish: (() => void) | undefined;
  const running = a.hold("ingest", "ep_2", (held) => new Promise<HeldClaim>((resolve) => (finish = () => resolve(held))));
  await until("A to hold the claim", () => (finish !== undefined ? true : undefined));
  const firstExpiry = Number((await claimRow(dbA, "ingest", "ep_2"))?.expires_at);
  // three renewal periods and more: without renewals the claim would have expired by now
  await until("two renewals", async () => (Number((await claimRow(dbA, "ingest", "ep_2"))?.expires_at) > firstExpiry + 400 ? true : undefined));
  assert.deepEqual(await b.claim("ingest", "ep_2"), { owned: false });
  finish!();
  const outcome = await running;
  assert.equal(outcome.ran, true);
  if (outcome.ran) assert.equal(outcome.value.signal.aborted, false);
  assert.equal((await claimRow(dbA, "ingest", "ep_2"))?.owner, null, "released");
  assert.deepEqual(await b.claim("ingest", "ep_2"), { owned: true, takenOver: false });
  assert.deepEqual(await a.hold("ingest", "ep_2", () => Promise.resolve(1)), { ran: false }, "a held claim is not run twice");
});

test("hold: a renewal that finds the claim taken over aborts the work's signal with ClaimLostError", async (t) => {
  const { a: dbA, b: dbB } = await openShared(t);
  const a = new WorkClaims(dbA, "or_a", 600, log);
  const b = new WorkClaims(dbB, "or_b", 600, log);
  const outcome = a.hold("stitch", "ep_3", async (held) => {
    // A stalls past its TTL as a paused process would: B takes the claim, which the test forces by
    // expiring it in the database (A's renewal timer is still running, as a resumed process's is)
    await dbB.client.execute({ sql: "update work_claims set expires_at = 0 where kind = 'stitch' and episode_id = 'ep_3'", args: [] });
    assert.deepEqual(await b.claim("stitch", "ep_3"), { owned: true, takenOver: true });
    await new Promise<void>((resolve) => held.signal.addEventListener("abort", () => resolve(), { once: true }));
    await assert.rejects(held.check(), ClaimLostError);
    return held.signal.reason as unknown;
  });
  const r = await outcome;
  assert.equal(r.ran, true);
  if (r.ran) assert.ok(r.value instanceof ClaimLostError, "the signal's reason says the claim was lost");
  assert.equal((await claimRow(dbB, "stitch", "ep_3"))?.owner, "or_b", "the lost claim is not released by A");
});

test("a holder whose claim was taken over between its check and its write records nothing: the claim is checked in the write's transaction", async (t) => {
  const { a: dbA, b: dbB } = await openShared(t);
  const a = new WorkClaims(dbA, "or_a", 60_000, log);
  const b = new WorkClaims(dbB, "or_b", 60_000, log);
  const storeA = new EpisodeStore(dbA);
  const id = await createUrlEpisode(storeA, "ep_4");
  await storeA.transitionEpisode(id, "ingesting");
  const chunk = (index: number) => ({
    index,
    startSample: index * 10 * SAMPLE_RATE,
    endSample: (index + 1) * 10 * SAMPLE_RATE,
    coreStartSample: index * 10 * SAMPLE_RATE,
    coreEndSample: (index + 1) * 10 * SAMPLE_RATE,
    reason: "test",
  });
  const facts = { durationSec: 20, sampleCount: 20 * SAMPLE_RATE };

  const outcome = await a.hold("ingest", id, async (held) => {
    await held.check();
    await storeA.recordChunk(id, chunk(0), held);
    // A passed its check and is about to write when it stalls past its TTL and B takes the claim
    // (forced in the database: A's renewal timer has not run yet, as in a process paused mid-step)
    await dbB.client.execute({ sql: "update work_claims set expires_at = 0 where kind = 'ingest' and episode_id = ?", args: [id] });
    assert.deepEqual(await b.claim("ingest", id), { owned: true, takenOver: true });
    await assert.rejects(storeA.recordChunk(id, chunk(1), held), ClaimLostError, "A's late chunk is refused");
    await assert.rejects(storeA.completePlan(id, facts, held), ClaimLostError, "and so is its end of the plan");
    await assert.rejects(storeA.transitionEpisode(id, "failed", { error: "late" }, held), ClaimLostError);
    return true;
  });
  assert.equal(outcome.ran, true);
  const episode = await storeA.getEpisode(id);
  assert.equal(episode?.status, "transcribing", "nothing A wrote after losing the claim is there");
  assert.equal(episode?.chunkCount, null);
  assert.deepEqual(
    (await storeA.listChunks(id)).map((c) => c.index),
    [0],
  );
  // the new holder carries on from where the plan left off
  const storeB = new EpisodeStore(dbB);
  await storeB.recordChunk(id, chunk(1), { kind: "ingest", episodeId: id, owner: "or_b" });
  assert.equal((await storeB.completePlan(id, facts, { kind: "ingest", episodeId: id, owner: "or_b" })).chunkCount, 2);
});

test("hold: a holder that cannot reach the database stops its work before the claim expires", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-claims-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const url = `file:${path.join(dir, "shared.db")}`;
  const dbA = await Database.open(url);
  const dbB = await Database.open(url);
  t.after(() => dbB.close());
  const a = new WorkClaims(dbA, "or_a", 900, log);
  const b = new WorkClaims(dbB, "or_b", 900, log);
  let abortedAt = 0;
  let bTook: Promise<number> | undefined;
  const r = await a.hold("ingest", "ep_4", async (held) => {
    // A loses its database (its connection closed abruptly): renewals fail with errors, not "lost"
    dbA.close();
    bTook = until("B to take the claim", async () => ((await b.claim("ingest", "ep_4")).owned ? Date.now() : undefined), 10_000, 20);
    await new Promise<void>((resolve) => held.signal.addEventListener("abort", () => resolve(), { once: true }));
    abortedAt = Date.now();
    return held.signal.reason as unknown;
  });
  assert.equal(r.ran, true);
  if (r.ran) assert.ok(r.value instanceof ClaimLostError);
  const tookAt = await bTook!;
  assert.ok(abortedAt > 0 && abortedAt <= tookAt, `A stopped (${abortedAt}) before B could take the claim (${tookAt})`);
  assert.equal(Number((await claimRow(dbB, "ingest", "ep_4"))?.taken_over), 1);
});

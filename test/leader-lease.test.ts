/**
 * Leader election and fencing (orchestrator/cluster/): two Leadership instances on a real
 * nats-server elect exactly one leader; a release hands over at once (the release watch, not the
 * retry timer); a leader that dies without releasing is replaced once its lease ages out, under a
 * higher term; a holder whose renewal is refused steps down; a leader whose monotonic clock says it
 * was frozen past its lease refuses side effects before any network call. On a real libSQL file, a
 * write under an old term throws FencedError and writes nothing; the fleet plan reaps a machine of
 * an older term first when over the cap; a lone orchestrator leads at once and says so; and a lease
 * bucket whose revisions restarted below the stored term is moved past it, so leading resumes.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { wireNames, type WireNames } from "../contract/wire.ts";
import { FencedError, NotLeaderError, type Fence } from "../orchestrator/cluster/fence.ts";
import { LeaderLease } from "../orchestrator/cluster/leader-lease.ts";
import { Leadership, type LeadershipOptions } from "../orchestrator/cluster/leadership.ts";
import { parseConfig } from "../orchestrator/config.ts";
import { DeliveryService, RETRY_DELAYS_SEC } from "../orchestrator/delivery/delivery-service.ts";
import { plan } from "../orchestrator/fleet/fleet-plan.ts";
import type { ObservedFleet, ObservedMachine } from "../orchestrator/fleet/fleet-state.ts";
import { MachineRegistry } from "../orchestrator/fleet/machine-registry.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator } from "../orchestrator/orchestrator.ts";
import { Database } from "../orchestrator/store/database.ts";
import { EpisodeStore } from "../orchestrator/store/episode-store.ts";
import { raiseLeaderTerm, readLeaderTerm } from "../orchestrator/store/leader-term.ts";
import { EpisodeLinks } from "../orchestrator/sources/episode-links.ts";
import { fleet, LIMITS, machine, NOW } from "./support/fleet-fixtures.ts";
import { programmableServer } from "./support/ingest-stack.ts";
import { startTestSqld } from "./support/sqld.ts";
import { startTestNats, uniquePrefix, type CleanupContext } from "./support/nats.ts";
import { until } from "./support/until.ts";

const TTL_MS = 2000;

interface Candidate {
  leadership: Leadership;
  lease: LeaderLease;
  elected: Fence[];
  deposed: number;
  logs: string[];
}

async function natsConnection(t: CleanupContext, url: string): Promise<NatsConnection> {
  const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  t.after(() => nc.close());
  return nc;
}

/** One would-be leader with its own NATS connection, recording its elections and depositions. */
async function candidate(
  t: CleanupContext,
  url: string,
  names: WireNames,
  holder: string,
  opts: Partial<LeadershipOptions> = {},
): Promise<Candidate> {
  const nc = await natsConnection(t, url);
  const lease = await LeaderLease.open(nc, names, { ttlMs: TTL_MS });
  const c: Candidate = { leadership: undefined as unknown as Leadership, lease, elected: [], deposed: 0, logs: [] };
  c.leadership = new Leadership({
    lease,
    holder,
    ttlMs: TTL_MS,
    log: createLogger("debug", {}, (line) => void c.logs.push(line)),
    onElected: async (fence) => void c.elected.push(fence),
    onDeposed: async () => void c.deposed++,
    ...opts,
  });
  t.after(() => c.leadership.stop());
  return c;
}

async function natsNames(t: CleanupContext): Promise<{ url: string; names: WireNames }> {
  const nats = await startTestNats(t);
  return { url: nats.url, names: wireNames(uniquePrefix("ll")) };
}

async function openDb(t: CleanupContext): Promise<Database> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-lease-"));
  const db = await Database.open(`file:${path.join(dir, "db.sqlite")}`);
  t.after(() => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return db;
}

test("two candidates on one NATS: exactly one leads, and a release hands over at once", async (t) => {
  const { url, names } = await natsNames(t);
  // B retries only once a minute: only the release watch can elect it within the test
  const a = await candidate(t, url, names, "or_a");
  const b = await candidate(t, url, names, "or_b", { everyMs: 60_000 });
  await a.leadership.start();
  await b.leadership.start();
  assert.equal(a.leadership.isLeader(), true, "the first candidate takes the free key at start");
  assert.equal(b.leadership.isLeader(), false, "the second finds it held");
  assert.equal(a.elected.length, 1);
  assert.deepEqual(b.elected, []);
  const held = await a.lease.read();
  assert.equal(held?.holder, "or_a");
  assert.equal(held?.term, a.leadership.term);

  const releasedAt = performance.now();
  await a.leadership.stop();
  assert.equal(a.deposed, 1, "stopping stops the duties");
  const fence = await until("B elected after A released", () => b.elected[0], 10_000, 20);
  t.diagnostic(`hand-over after a clean stop: ${Math.round(performance.now() - releasedAt)} ms`);
  assert.ok(fence.term > a.elected[0]!.term, "the new term is higher");
  assert.equal((await b.lease.read())?.holder, "or_b");
  assert.equal(a.leadership.isLeader(), false);
});

test("a leader killed without releasing is replaced once its lease ages out, under a higher term", async (t) => {
  const { url, names } = await natsNames(t);
  const a = await candidate(t, url, names, "or_a");
  const b = await candidate(t, url, names, "or_b");
  await a.leadership.start();
  await b.leadership.start();
  const oldTerm = a.leadership.term!;
  const killedAt = performance.now();
  await a.leadership.abandon(); // a SIGKILL: no release, no hook
  const fence = await until("B elected after A's lease aged out", () => b.elected[0], 20_000, 20);
  const waited = performance.now() - killedAt;
  t.diagnostic(`killed leader replaced after ${Math.round(waited)} ms (TTL ${TTL_MS} ms)`);
  // A's last renewal was at most one renewal period (TTL/4) before the kill
  assert.ok(waited >= TTL_MS - TTL_MS / 4 - 100, `B waited out A's lease (${Math.round(waited)} ms)`);
  assert.ok(fence.term > oldTerm, `term ${fence.term} > ${oldTerm}`);
  assert.equal(a.deposed, 0, "a killed process runs no hook");
  assert.equal((await b.lease.read())?.holder, "or_b");
});

test("a holder whose renewal is refused steps down at once", async (t) => {
  const { url, names } = await natsNames(t);
  const a = await candidate(t, url, names, "or_a");
  await a.leadership.start();
  assert.equal(a.leadership.isLeader(), true);
  const fence = a.leadership.fence();
  // someone else now holds the key (what A would find after a pause long enough for a successor)
  const intruder = await LeaderLease.open(await natsConnection(t, url), names, { ttlMs: TTL_MS });
  const taken = await intruder.acquire("or_intruder", Date.now(), { takeOver: true });
  assert.ok("won" in taken);
  await until("A stepped down", () => (a.deposed > 0 ? true : undefined), 10_000, 20);
  assert.equal(a.leadership.renewals.refused, 1);
  assert.equal(a.leadership.isLeader(), false);
  assert.throws(() => fence.check(), NotLeaderError, "its fence no longer passes");
  assert.equal((await a.lease.read())?.holder, "or_intruder", "the refused holder did not overwrite the key");
});

test("a leader frozen past its lease (monotonic clock) refuses side effects before any network call", async (t) => {
  const { url, names } = await natsNames(t);
  const db = await openDb(t);
  let now = 1_000_000;
  const a = await candidate(t, url, names, "or_a", { clock: () => now, everyMs: 300 });
  await a.leadership.start();
  const fence = a.leadership.fence();
  await raiseLeaderTerm(db, fence, "or_a", Date.now());
  fence.check();
  const registry = new MachineRegistry(db);
  await registry.event({ machineId: null, kind: "before_pause" }, fence);

  now += TTL_MS; // the process was stopped (SIGSTOP) this long, by its own clock
  assert.equal(a.leadership.isLeader(), false);
  assert.throws(() => fence.check(), NotLeaderError);
  let touched = false;
  await assert.rejects(
    db.write(
      async () => {
        touched = true;
      },
      { fence },
    ),
    NotLeaderError,
  );
  assert.equal(touched, false, "the write body never ran");
  await assert.rejects(registry.event({ machineId: null, kind: "after_pause" }, fence), NotLeaderError);
  assert.deepEqual(
    (await registry.events()).map((e) => e.kind),
    ["before_pause"],
  );
  await until("A stepped down", () => (a.deposed > 0 ? true : undefined), 10_000, 20);
  assert.deepEqual({ refused: a.leadership.renewals.refused, error: a.leadership.renewals.error }, { refused: 0, error: 0 }, "no renewal was tried");
  assert.ok(
    a.logs.some((l) => l.includes("stepped down") && l.includes("paused")),
    "it says why it stepped down",
  );
  assert.equal((await a.lease.read())?.holder, "or_a", "stepping down on its own clock made no network call (the key just ages out)");
});

test("a write under an old term throws FencedError and writes nothing", async (t) => {
  const db = await openDb(t);
  const old: Fence = { term: 5, check: () => undefined };
  const newer: Fence = { term: 9, check: () => undefined };
  const registry = new MachineRegistry(db);
  await raiseLeaderTerm(db, old, "or_old", 1);
  await registry.event({ machineId: null, kind: "old_ok" }, old);
  await raiseLeaderTerm(db, newer, "or_new", 2);
  assert.deepEqual(await readLeaderTerm(db.client), { term: 9, holder: "or_new", since: 2 });

  const transitions: string[] = [];
  db.events.on("machine:transition", (e) => void transitions.push(e.machineId));
  const machine = { id: "m_late", state: "created", region: "local", created_at: new Date().toISOString() } as const;
  await assert.rejects(registry.recordCreated(machine as never, "fleet", false, "late create", old), FencedError);
  await assert.rejects(registry.event({ machineId: null, kind: "old_late" }, old), FencedError);
  await assert.rejects(raiseLeaderTerm(db, old, "or_old", 3), FencedError, "a term never goes back");
  assert.deepEqual(
    (await registry.events()).map((e) => e.kind),
    ["old_ok"],
  );
  assert.deepEqual(await registry.recent(), [], "the late machine was not recorded");
  assert.deepEqual(transitions, [], "no state event for a refused write");
  await registry.recordCreated(machine as never, "fleet", false, "create", newer);
  assert.deepEqual(
    (await registry.recent()).map((m) => m.id),
    ["m_late"],
  );
});

test("fenced writes against a sqld server: the same refusal over HTTP transactions", async (t) => {
  const sqld = await startTestSqld(t);
  const db = await Database.open(sqld.url);
  t.after(() => db.close());
  const registry = new MachineRegistry(db);
  const old: Fence = { term: 3, check: () => undefined };
  await raiseLeaderTerm(db, old, "or_old", 1);
  await registry.event({ machineId: null, kind: "old_ok" }, old);
  await raiseLeaderTerm(db, { term: 4, check: () => undefined }, "or_new", 2);
  await assert.rejects(registry.event({ machineId: null, kind: "old_late" }, old), FencedError);
  assert.deepEqual(
    (await registry.events()).map((e) => e.kind),
    ["old_ok"],
  );
});

test("a deposed leader's callback pass claims nothing and sends nothing", async (t) => {
  const db = await openDb(t);
  let calls = 0;
  const receiver = await programmableServer(t, (_req, res) => {
    calls++;
    res.writeHead(500).end();
  });
  const store = new EpisodeStore(db);
  const link = await new EpisodeLinks(db, { allowPrivateUrls: true }).prepare("ep_fence", { callbackUrl: `${receiver.url}/hook` });
  await store.createEpisode(
    { id: "ep_fence", title: "t", sourceKind: "url", sourceUrl: "https://example.com/a.mp3", uploadPath: null, chunkSeconds: 60, language: "en" },
    link,
  );
  await store.transitionEpisode("ep_fence", "failed", { error: "audio could not be fetched" });
  let now = Date.now();
  const deliveries = new DeliveryService({
    database: db,
    secret: "whsec_" + Buffer.alloc(24, 7).toString("base64"),
    publicUrl: () => "https://pf.example",
    allowPrivateUrls: true,
    log: createLogger("silent"),
    now: () => now,
  });
  const old: Fence = { term: 5, check: () => undefined };
  await raiseLeaderTerm(db, old, "or_old", 1);
  assert.deepEqual(await deliveries.pass(undefined, old), { created: 1, attempted: 1, delivered: 0 });
  assert.equal(calls, 1);

  await raiseLeaderTerm(db, { term: 9, check: () => undefined }, "or_new", 2);
  now += RETRY_DELAYS_SEC[0] * 1000; // the retry is due
  await assert.rejects(deliveries.pass(undefined, old), FencedError);
  assert.equal(calls, 1, "the deposed leader did not POST again");
  assert.deepEqual(await deliveries.pass(undefined, { term: 9, check: () => undefined }), { created: 0, attempted: 1, delivered: 0 });
  assert.equal(calls, 2, "the new leader sends the retry");
});

const fleetOf = (machines: ObservedMachine[]): ObservedFleet => fleet({ machines, queued: 4, leased: 3 });

test("over the cap, a machine created under an older leader term is reaped first", () => {
  // the oldest machine is the old term's: idle-and-newest-first alone would stop "b" instead
  const started = plan(
    fleetOf([machine("old", { term: 5, createdAt: NOW - 120_000 }), machine("a", { term: 9, createdAt: NOW - 90_000 }), machine("b", { term: 9 })]),
    LIMITS,
    NOW,
    { sweep: false },
  );
  assert.deepEqual(
    started.map((a) => `${a.kind}:${"machineId" in a ? a.machineId : ""}`),
    ["stop:old"],
  );
  // one still booting cannot be stopped: it is destroyed (it holds no chunk)
  const booting = plan(
    fleetOf([
      machine("a", { term: 9 }),
      machine("b", { term: 9 }),
      machine("late", { term: 5, state: "starting", startedAt: null, leasedChunks: 0 }),
    ]),
    LIMITS,
    NOW,
    { sweep: false },
  );
  assert.deepEqual(
    booting.map((a) => `${a.kind}:${"machineId" in a ? a.machineId : ""}:${"reason" in a ? a.reason : ""}`),
    ["destroy:late:over_cap"],
  );
});

test("a lone orchestrator leads from the start and says so (fleet view, metrics)", async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-lone-"));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const config = parseConfig(
    { PODFLEET_MAX_MACHINES: "0", PODFLEET_LOG_LEVEL: "silent", PODFLEET_NATS_PREFIX: uniquePrefix("lone") },
    { dataDir, port: 0 },
  );
  const orch = await startOrchestrator(config, createLogger("silent"));
  t.after(() => orch.close());
  const { leadership, instance } = orch.leader;
  assert.equal(leadership.isLeader(), true, "elected before startOrchestrator returns");
  const reader = await Database.open(config.database.url);
  t.after(() => reader.close());
  assert.equal((await readLeaderTerm(reader.client))?.term, leadership.term, "the fencing row holds its term");
  const headers = { authorization: `Bearer ${orch.adminToken}` };
  const view = (await (await orch.api.app.request("/v1/fleet", { headers })).json()) as { leader: { holder: string; term: number } | null };
  assert.deepEqual({ holder: view.leader?.holder, term: view.leader?.term }, { holder: instance, term: leadership.term });
  const metrics = await (await orch.api.app.request("/metrics", { headers })).text();
  assert.match(metrics, new RegExp(`^podfleet_leader\\{instance="${instance}"\\} 1$`, "m"));
  assert.match(metrics, new RegExp(`^podfleet_leader_term\\{instance="${instance}"\\} ${leadership.term}$`, "m"));
  assert.match(metrics, /^podfleet_leader_lease_renewals_total\{instance="[^"]+",result="refused"\} 0$/m);
});

test("a lease bucket whose revisions restarted below the database's term (recreated, its NATS store lost) is moved past it, and the orchestrator leads again", async (t) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-relead-"));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const config = parseConfig(
    { PODFLEET_MAX_MACHINES: "0", PODFLEET_LOG_LEVEL: "silent", PODFLEET_NATS_PREFIX: uniquePrefix("relead"), PODFLEET_LEADER_LEASE_SEC: "2" },
    { dataDir, port: 0 },
  );
  const first = await startOrchestrator(config, createLogger("silent"));
  const firstTerm = first.leader.leadership.term!;
  await first.close();
  // what a lost NATS store leaves: the database remembers a term the (new) bucket has never reached
  const storedTerm = firstTerm + 500;
  const db = await Database.open(config.database.url);
  await raiseLeaderTerm(db, { term: storedTerm, check: () => undefined }, "an-orchestrator-of-the-old-bucket", Date.now());
  db.close();

  const lines: string[] = [];
  const second = await startOrchestrator(
    config,
    createLogger("warn", {}, (line) => void lines.push(line)),
  );
  t.after(() => second.close());
  const term = await until("the orchestrator to lead again", () => second.leader.leadership.term ?? undefined, 30_000);
  assert.ok(term > storedTerm, `elected at ${term}, past the stored term ${storedTerm}`);
  const reader = await Database.open(config.database.url);
  t.after(() => reader.close());
  assert.equal((await readLeaderTerm(reader.client))?.term, term, "the database holds the new term");
  assert.ok(
    lines.some((l) => l.includes("revisions restarted below")),
    "the move is logged",
  );
});

/**
 * The sweeper and fault handling on the local runtime with real NATS and workers: a worker
 * SIGKILLed mid-chunk has its chunk re-published at a new generation and redone by another
 * machine; injected orphan, failed and wedged machines are destroyed within one sweeper period;
 * 429/5xx/capacity faults on create are retried (next region, then backoff) and never exceed the
 * cap; with warmPool 2 a second backlog starts the stopped machines instead of creating new ones.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { InlineChunkJob, JOB_HEADER, eventSubject, type ChunkClaimed } from "../contract/wire.ts";
import { fleetMetadata } from "../orchestrator/fleet/autoscaler.ts";
import { connectAuth } from "../orchestrator/queue/nats-credentials.ts";
import { sleeperEnv } from "./support/sleeper-machine.ts";
import { setFaults } from "./support/runtime-faults.ts";
import { api, suiteCleanup } from "./support/ingest-stack.ts";
import { BROKEN_IMAGE, RuntimeRecorder, SLEEPER_IMAGE, speechEpisode, startFleetStack, submitFile, until } from "./support/fleet-stack.ts";

const suite = suiteCleanup();
let six: string;
let four: string;
before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-fleet-audio-"));
  suite.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  six = await speechEpisode(dir, 6);
  four = await speechEpisode(dir, 4);
});
after(() => suite.run());

const SWEEP_MS = 1000;

async function finished(orch: Awaited<ReturnType<typeof startFleetStack>>, id: string, timeoutMs = 120_000) {
  return until(
    "the episode to finish",
    async () => {
      const ep = await orch.store.getEpisode(id);
      assert.notEqual(ep?.status, "failed", ep?.error ?? "");
      return ep?.status === "done" ? ep : undefined;
    },
    timeoutMs,
  );
}

test("a worker SIGKILLed mid-chunk: its chunk is re-queued at once and redone by another machine", async (t) => {
  const orch = await startFleetStack(t, { PODFLEET_SWEEP_INTERVAL_MS: String(SWEEP_MS), PODFLEET_ACK_WAIT_SEC: "120" });
  const id = await submitFile(orch.url, six);
  const victim = await until("a leased chunk", async () => (await orch.store.listChunks(id)).find((c) => c.state === "leased" && c.leaseOwner));
  const machine = orch.localRuntime!.snapshot().find((m) => m.id === victim.leaseOwner);
  assert.ok(machine?.pid, "the lease holder runs a process");
  process.kill(machine.pid, "SIGKILL");
  const killedAt = Date.now();

  const requeued = await until(
    "the chunk re-queued",
    async () => {
      const c = await orch.store.getChunk(victim.id);
      return c && c.generation > victim.generation ? c : undefined;
    },
    10_000,
  );
  t.diagnostic(`chunk re-queued ${Date.now() - killedAt} ms after SIGKILL (ack wait is 120 s)`);
  assert.equal(requeued.generation, 2);
  await finished(orch, id);
  const redone = await orch.store.getChunk(victim.id);
  assert.equal(redone?.state, "done");
  assert.equal(redone?.generation, 2);
  assert.notEqual(redone?.leaseOwner, victim.leaseOwner, "redone by another machine");
  assert.equal(redone?.attempt, 1, "the first delivery of generation 2");
});

test("a chunk whose machine dies every time is dead after maxAttempts losses; retry re-runs only it", async (t) => {
  const orch = await startFleetStack(t, { PODFLEET_SWEEP_INTERVAL_MS: String(SWEEP_MS), PODFLEET_ACK_WAIT_SEC: "120", PODFLEET_MAX_ATTEMPTS: "2" });
  const id = await submitFile(orch.url, six);
  const victim = await until("a leased chunk", async () => (await orch.store.listChunks(id)).find((c) => c.state === "leased" && c.leaseOwner));
  // Kill whichever machine holds the victim chunk, each time it is leased again, until it is dead.
  const killed: string[] = [];
  const dead = await until(
    "the chunk dead",
    async () => {
      const c = await orch.store.getChunk(victim.id);
      if (c?.state === "failed") return c;
      if (c?.state === "leased" && c.leaseOwner && !killed.includes(c.leaseOwner)) {
        const pid = orch.localRuntime!.snapshot().find((m) => m.id === c.leaseOwner)?.pid;
        if (pid) {
          process.kill(pid, "SIGKILL");
          killed.push(c.leaseOwner);
        }
      }
      return undefined;
    },
    90_000,
  );
  assert.equal(killed.length, 2, `machines killed: ${killed.join(", ")}`);
  assert.equal(dead.machineLosses, 2);
  assert.match(dead.lastError ?? "", /lost 2 times/);
  const failed = await until(
    "the episode failed",
    async () => {
      const ep = await orch.store.getEpisode(id);
      return ep?.status === "failed" ? ep : undefined;
    },
    10_000,
  );
  assert.match(failed.error ?? "", new RegExp(`chunk ${victim.id} failed: the machine running it was lost 2 times`));
  // Everything else finished; retry re-runs only the dead chunk, which now succeeds.
  const others = (await orch.store.listChunks(id)).filter((c) => c.id !== victim.id);
  await until(
    "the other chunks done",
    async () => ((await orch.store.listChunks(id)).filter((c) => c.id !== victim.id).every((c) => c.state === "done") ? true : undefined),
    60_000,
  );
  const attemptOf = (c: { generation: number; attempt: number; doneAt: number | null }) => `g${c.generation}.${c.attempt}@${c.doneAt}`;
  const doneBefore = new Map((await orch.store.listChunks(id)).map((c) => [c.id, attemptOf(c)]));
  const retry = await api(orch.url, "POST", `/v1/episodes/${id}/retry`, {});
  assert.equal(retry.status, 202, JSON.stringify(retry.body));
  assert.equal(retry.body.requeuedChunks, 1);
  await finished(orch, id);
  const after = await orch.store.listChunks(id);
  for (const c of after.filter((c) => c.id !== victim.id)) assert.equal(attemptOf(c), doneBefore.get(c.id), `chunk ${c.index} was not redone`);
  const redone = after.find((c) => c.id === victim.id)!;
  assert.equal(redone.state, "done");
  assert.equal(redone.machineLosses, 0, "retry resets the count");
  assert.ok(others.length >= 1);
});

test("jobs the queue lost are published again once it has had nothing to deliver for the stranded period", async (t) => {
  const orch = await startFleetStack(t, { PODFLEET_MAX_MACHINES: "0", PODFLEET_STRANDED_SEC: "2", PODFLEET_SWEEP_INTERVAL_MS: String(SWEEP_MS) });
  const id = await submitFile(orch.url, four);
  // a streamed plan grows after its first chunk ("transcribing"): wait for the complete plan (chunkCount)
  const planned = await until("the whole plan", async () => (await orch.store.getEpisode(id))?.chunkCount ?? undefined);
  // Lose every job, as a broker crash between a nak and its redelivery can: purge the jobs stream.
  const nc = await connect({ servers: orch.natsUrl, ...connectAuth(orch.natsAuth.orchestrator) });
  t.after(() => nc.close());
  const jsm = await jetstreamManager(nc);
  // the plan is recorded before each job goes out: wait for all of them
  await until("every job published", async () => ((await jsm.streams.info(orch.names.jobsStream)).state.messages === planned ? true : undefined));
  await jsm.streams.purge(orch.names.jobsStream);
  assert.equal((await jsm.streams.info(orch.names.jobsStream)).state.messages, 0);
  const lostAt = Date.now();
  assert.equal((await api(orch.url, "PUT", "/v1/fleet/limits", { maxMachines: 2 })).status, 200);
  await finished(orch, id);
  t.diagnostic(`episode done ${Date.now() - lostAt} ms after its jobs were lost (stranded period 2 s)`);
  const chunks = await orch.store.listChunks(id);
  assert.ok(chunks.length >= 2);
  for (const c of chunks) assert.equal(c.generation, 2, `chunk ${c.index} was published again once`);
  const { body } = await api(orch.url, "GET", "/v1/fleet/events?limit=100");
  assert.ok(
    body.events.some((e: { kind: string }) => e.kind === "republish"),
    "the republish is in the fleet events",
  );
});

test("a claim that reaches the store after its machine ended is re-queued once the events before it are applied", async (t) => {
  const orch = await startFleetStack(t, { PODFLEET_MAX_MACHINES: "0", PODFLEET_ACK_WAIT_SEC: "120", PODFLEET_SWEEP_INTERVAL_MS: String(SWEEP_MS) });
  const id = await submitFile(orch.url, four);
  await until("the chunks queued", async () => ((await orch.store.getEpisode(id))?.status === "transcribing" ? true : undefined));
  // A machine the orchestrator already recorded as gone...
  const { registry } = orch.fleet;
  const ghost = "ghost-machine";
  const now = new Date().toISOString();
  await registry.recordCreated(
    { id: ghost, name: ghost, state: "started", region: "local", instance_id: "i", private_ip: "::1", created_at: now, updated_at: now },
    "fleet",
    false,
    "test",
  );
  await registry.markEnded(ghost, "gone", "test");
  // ...whose claim arrives only now (the event backlog), for a job whose last delivery it took.
  const nc = await connect({ servers: orch.natsUrl, ...connectAuth(orch.natsAuth.orchestrator) });
  t.after(() => nc.close());
  const js = jetstream(nc);
  const consumer = await js.consumers.get(orch.names.jobsStream, orch.names.jobsConsumer);
  const msg = await consumer.next({ expires: 5_000 });
  assert.ok(msg, "a job to take");
  const job = InlineChunkJob.parse(JSON.parse(msg.headers!.get(JOB_HEADER)));
  msg.ack(); // the queue will never deliver it again
  const claim: ChunkClaimed = {
    v: 1,
    type: "claimed",
    episodeId: id,
    chunkId: job.chunkId,
    attempt: msg.info.deliveryCount,
    generation: job.generation,
    machineId: ghost,
    at: Date.now(),
  };
  await js.publish(eventSubject(orch.names, claim), JSON.stringify(claim));
  await until("the late claim applied", async () => ((await orch.store.getChunk(job.chunkId))?.leaseOwner === ghost ? true : undefined));

  assert.equal((await api(orch.url, "PUT", "/v1/fleet/limits", { maxMachines: 2 })).status, 200);
  await finished(orch, id);
  const chunk = await orch.store.getChunk(job.chunkId);
  assert.equal(chunk?.generation, (job.generation ?? 1) + 1, "published again at the next generation");
  assert.notEqual(chunk?.leaseOwner, ghost);
  assert.equal(chunk?.machineLosses, 1);
  const events = await registry.events(100, ghost);
  assert.ok(
    events.some((e) => e.kind === "requeue" && e.reason === "lease taken after the machine ended" && e.detail === job.chunkId),
    JSON.stringify(events),
  );
});

test("orphan, failed and wedged machines are destroyed within one sweeper period", async (t) => {
  const orch = await startFleetStack(t, { PODFLEET_MAX_MACHINES: "0", PODFLEET_SWEEP_INTERVAL_MS: String(SWEEP_MS), PODFLEET_WEDGED_SEC: "2" });
  const fleetId = (await api(orch.url, "GET", "/v1/fleet")).body.fleetId as string;
  const runtime = orch.localRuntime!;
  const config = (image: string) => ({ image, env: sleeperEnv({}), restart: { policy: "no" as const }, metadata: fleetMetadata(fleetId) });
  const recorder = new RuntimeRecorder(runtime);
  t.after(() => recorder.stop());

  // An orphan: tagged with this fleet but unknown to the orchestrator's records.
  const orphan = await orch.machines.create({ config: config(SLEEPER_IMAGE) });
  // A failed machine the orchestrator knows (its image cannot start).
  const failed = await orch.machines.create({ config: config(BROKEN_IMAGE) });
  await orch.fleet.registry.recordCreated(failed, fleetId, false, "test: injected");
  // A known machine wedged in `starting`.
  setFaults(runtime, { stuckInStarting: true });
  const wedged = await orch.machines.create({ config: config(SLEEPER_IMAGE) });
  setFaults(runtime, {});
  await orch.fleet.registry.recordCreated(wedged, fleetId, false, "test: injected");
  const injectedAt = Date.now();

  const gone = (id: string) => () => (recorder.states.get(id) === "destroyed" ? Date.now() : undefined);
  const orphanAt = await until("the orphan destroyed", gone(orphan.id), 10_000);
  const failedAt = await until("the failed machine destroyed", gone(failed.id), 10_000);
  const wedgedAt = await until("the wedged machine destroyed", gone(wedged.id), 10_000);
  t.diagnostic(`orphan ${orphanAt - injectedAt} ms, failed ${failedAt - injectedAt} ms, wedged ${wedgedAt - injectedAt} ms (wedged after 2 s)`);
  assert.ok(orphanAt - injectedAt <= SWEEP_MS + 1_500);
  assert.ok(failedAt - injectedAt <= SWEEP_MS + 1_500);
  assert.ok(wedgedAt - injectedAt <= 2_000 + SWEEP_MS + 1_500);

  const { body } = await api(orch.url, "GET", "/v1/fleet/events?limit=100");
  const reasons = body.events
    .filter((e: { kind: string }) => e.kind === "destroy")
    .map((e: { machineId: string; reason: string }) => `${e.machineId}:${e.reason}`);
  assert.ok(reasons.includes(`${orphan.id}:orphan`), reasons.join(" "));
  assert.ok(reasons.includes(`${failed.id}:failed`));
  assert.ok(reasons.includes(`${wedged.id}:wedged`));
  // A reap now finds nothing left to do.
  const reap = await api(orch.url, "POST", "/v1/fleet/reap?dryRun=true", {});
  assert.deepEqual(reap.body.actions, []);
});

test("429, 5xx and capacity faults on create: retried, next region, backoff; the cap of 2 holds", async (t) => {
  const orch = await startFleetStack(t, { PODFLEET_REGIONS: "aaa,bbb" });
  const recorder = new RuntimeRecorder(orch.localRuntime!);
  t.after(() => recorder.stop());
  setFaults(orch.localRuntime!, {
    createFailures: [{ status: 429, retryAfterSec: 1 }, { status: 503 }, { status: 409 }, { status: 412 }, { status: 500 }],
  });
  const id = await submitFile(orch.url, four);
  await finished(orch, id);
  assert.ok(recorder.maxLive <= 2, `runtime saw ${recorder.maxLive} live machines`);
  assert.ok(recorder.created >= 1);
  const { body } = await api(orch.url, "GET", "/v1/fleet/events?limit=200");
  const failures = body.events
    .filter((e: { kind: string }) => e.kind === "create_failed")
    .map((e: { reason: string; detail: string }) => `${e.reason} ${e.detail.split(":")[0]}`);
  assert.ok(failures.includes("capacity aaa") && failures.includes("capacity bbb"), failures.join(" | "));
});

test("warmPool 2: a second backlog starts the stopped pool machines instead of creating new ones", async (t) => {
  const orch = await startFleetStack(t, { PODFLEET_WARM_POOL: "2" });
  setFaults(orch.localRuntime!, { bootDelayMs: 1500, startDelayMs: 100 });
  const recorder = new RuntimeRecorder(orch.localRuntime!);
  t.after(() => recorder.stop());

  const firstAt = Date.now();
  const first = await submitFile(orch.url, four);
  await finished(orch, first);
  const firstStarted = recorder.firstAt("started", firstAt)! - firstAt;
  await until(
    "both machines stopped in the pool",
    () => {
      const snap = orch.localRuntime!.snapshot();
      return snap.length === 2 && snap.every((m) => m.state === "stopped") ? true : undefined;
    },
    20_000,
  );
  const created = recorder.created;

  const secondAt = Date.now();
  const second = await submitFile(orch.url, four);
  await finished(orch, second);
  const secondStarted = recorder.firstAt("started", secondAt)! - secondAt;
  t.diagnostic(`submit→first machine started: cold create ${firstStarted} ms, warm start ${secondStarted} ms`);
  assert.equal(recorder.created, created, "no machine was created for the second backlog");
  assert.equal(orch.localRuntime!.snapshot().length, 2);
  const { body } = await api(orch.url, "GET", "/v1/fleet/events?limit=200");
  assert.ok(
    body.events.some((e: { kind: string }) => e.kind === "start"),
    "pool machines were started",
  );
});

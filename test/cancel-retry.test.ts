/**
 * Cancellation and dead letters with real workers (the local machines runtime running the real
 * worker, with the benchmark-only synthetic engine so a chunk takes a predictable few seconds):
 *  - a chunk that fails for good kills its episode with the reason (API and `jobs show`), and
 *    `jobs retry` re-runs only that chunk, at a new generation, until the episode is done;
 *  - `jobs cancel` mid-run: the running chunk is abandoned by its worker at a heartbeat, queued
 *    ones are dropped, nothing of the episode turns done, and the machines idle out.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { JOB_HEADER, episodeLiveObjectName } from "../contract/wire.ts";
import { parseConfig } from "../orchestrator/config.ts";
import { connectAuth } from "../orchestrator/queue/nats-credentials.ts";
import { workerLaunchSpec } from "../orchestrator/fleet/worker-launch.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../orchestrator/orchestrator.ts";
import { runCli } from "./support/cli.ts";
import { speechEpisode, until } from "./support/fleet-stack.ts";
import { EventWatch } from "./support/state-events.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-cancel-"));
const dataDir = path.join(tmp, "data");
/** Synthetic engine: seconds of sleep per second of audio; a 4 s chunk runs ~6 s. */
const RTF = "1.5";
let orch: Orchestrator;
let nc: NatsConnection;
let audio: ObjectStore;
let watch: EventWatch;

before(async () => {
  const config = parseConfig(
    {
      PODFLEET_LOG_LEVEL: "silent",
      PODFLEET_NATS_PREFIX: "cancel",
      PODFLEET_ENGINE: "synthetic",
      PODFLEET_MAX_MACHINES: "0", // raised once the test has set the stage
      PODFLEET_CHUNK_SECONDS: "4",
      PODFLEET_ACK_WAIT_SEC: "3", // heartbeat (and cancellation check) every second
      PODFLEET_MAX_ATTEMPTS: "2",
      PODFLEET_IDLE_TIMEOUT_SEC: "2",
      PODFLEET_AUTOSCALE_INTERVAL_MS: "300",
      PODFLEET_SWEEP_INTERVAL_MS: "1000",
      PODFLEET_RATE_LIMIT_PER_MIN: "0",
    },
    { dataDir, port: 0, host: "127.0.0.1" },
  );
  orch = await startOrchestrator(config, createLogger("silent"), {
    launch: () => {
      const spec = workerLaunchSpec();
      return { ...spec, env: { ...spec.env, PODFLEET_SYNTHETIC_RTF: RTF } };
    },
  });
  nc = await connect({ servers: orch.natsUrl, ...connectAuth(orch.natsAuth.orchestrator) });
  audio = await new Objm(nc).open(orch.names.audioBucket);
  watch = new EventWatch(orch.events);
});
after(async () => {
  watch?.stop();
  await nc?.close();
  await orch?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function call<T = any>(method: string, p: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${orch.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${orch.adminToken}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function submit(file: string): Promise<string> {
  const res = await fetch(`${orch.url}/v1/episodes?title=cancel`, {
    method: "POST",
    headers: { "content-type": "audio/wav", authorization: `Bearer ${orch.adminToken}` },
    body: fs.readFileSync(file),
  });
  assert.equal(res.status, 202);
  return ((await res.json()) as { id: string }).id;
}

const machineLogs = () => {
  const dir = path.join(dataDir, "logs", "machines");
  return fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .map((f) => fs.readFileSync(path.join(dir, f), "utf8"))
        .join("\n")
    : "";
};
const liveMachines = async () => (await orch.machines.list()).filter((m) => !["stopped", "destroyed", "failed"].includes(m.state)).length;

test("a dead chunk fails its episode with the reason; retry re-runs only that chunk, at a new generation", async () => {
  const id = await submit(await speechEpisode(tmp, 3));
  // the plan is complete (chunkCount set) once the audio ends; "transcribing" starts with the first chunk
  await until("chunks planned", async () => ((await orch.store.getEpisode(id))?.chunkCount != null ? true : undefined), 60_000);
  const chunks = await orch.store.listChunks(id);
  assert.ok(chunks.length >= 2, `need at least two chunks, got ${chunks.length}`);
  // Poison one chunk before any worker exists: the audio its job carries is not a WAV file (a
  // permanent error). Its job is swapped for one with the same header and a garbage payload.
  const poisoned = chunks[1]!;
  const jsm = await jetstreamManager(nc);
  // "transcribing" is recorded before the jobs go out: wait for the poisoned chunk's job
  const seq = await until(
    "the poisoned chunk's job queued",
    async () => {
      const { first_seq, last_seq } = (await jsm.streams.info(orch.names.jobsStream)).state;
      for (let s = first_seq; s <= last_seq; s++) {
        const header = (await jsm.streams.getMessage(orch.names.jobsStream, { seq: s }).catch(() => null))?.header.get(JOB_HEADER);
        if (header && (JSON.parse(header) as { chunkId: string }).chunkId === poisoned.id) return s;
      }
      return undefined;
    },
    30_000,
  );
  const m = (await jsm.streams.getMessage(orch.names.jobsStream, { seq }))!;
  await jsm.streams.deleteMessage(orch.names.jobsStream, seq);
  const h = headers(); // the job header only: the stored one's Nats-Msg-Id would make this a duplicate
  h.set(JOB_HEADER, m.header.get(JOB_HEADER));
  await jetstream(nc).publish(orch.names.jobsSubject, new TextEncoder().encode("this is not audio"), { headers: h });
  assert.equal((await call("PUT", "/v1/fleet/limits", { maxMachines: 2 })).status, 200);

  await watch.episode(id, "failed", { timeoutMs: 90_000 });
  const failed = (await call("GET", `/v1/episodes/${id}`)).body;
  assert.match(failed.error, new RegExp(`chunk ${poisoned.id} failed: .*not a RIFF/WAVE file`));
  const shown = await runCli(
    ["jobs", "show", id],
    { PATH: process.env.PATH ?? "", HOME: tmp, PODFLEET_URL: orch.url, PODFLEET_DATA_DIR: dataDir },
    60_000,
  );
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(shown.stdout, /status\s+failed/);
  assert.match(shown.stdout, /not a RIFF\/WAVE file/);
  assert.match(shown.stdout, /1 failed/);

  // the other chunks finish meanwhile; remember their attempts
  await Promise.all(
    chunks
      .filter((c) => c.id !== poisoned.id)
      .map((c) => watch.waitFor("chunk:transition", (e) => e.chunkId === c.id && e.to === "done", { timeoutMs: 90_000, what: `${c.id} done` })),
  );
  const before = new Map((await orch.store.listChunks(id)).map((c) => [c.id, c]));

  // the retry publishes the chunk again from the audio the orchestrator kept
  const retriedAt = watch.mark();
  const retry = await runCli(
    ["jobs", "retry", id],
    { PATH: process.env.PATH ?? "", HOME: tmp, PODFLEET_URL: orch.url, PODFLEET_DATA_DIR: dataDir },
    60_000,
  );
  assert.equal(retry.code, 0, retry.stderr);
  assert.match(retry.stdout, /1 chunk\(s\) queued again, status transcribing/);
  await watch.episode(id, ["done", "failed"], { timeoutMs: 90_000, since: retriedAt, what: "the retried episode to finish" });
  const done = (await call("GET", `/v1/episodes/${id}`)).body;
  assert.equal(done.status, "done", done.error);
  assert.equal(done.error, null);
  for (const c of await orch.store.listChunks(id)) {
    const old = before.get(c.id)!;
    if (c.id === poisoned.id) {
      assert.equal(c.generation, old.generation + 1, "re-run at the next generation");
      assert.equal(c.state, "done");
    } else {
      assert.deepEqual(
        [c.generation, c.attempt, c.resultObject, c.doneAt],
        [old.generation, old.attempt, old.resultObject, old.doneAt],
        `${c.id} was not re-run`,
      );
    }
  }
  assert.equal((await call("POST", `/v1/episodes/${id}/retry`, {})).status, 409, "a done episode is not retried");
});

test("cancel mid-run: the running chunk is abandoned at a heartbeat, queued ones dropped, nothing turns done", async () => {
  const id = await submit(await speechEpisode(tmp, 4));
  const claim = await watch.waitFor("chunk:transition", (e) => e.episodeId === id && e.to === "leased", {
    timeoutMs: 90_000,
    what: "a chunk running on a worker",
  });
  const leased = { id: claim.chunkId, attempt: claim.attempt, generation: claim.generation, leaseOwner: claim.machineId };
  const cancelledAt = Date.now();
  const res = await call("DELETE", `/v1/episodes/${id}`);
  assert.equal(res.status, 200);
  assert.equal(res.body.status, "cancelled");

  // the worker notices at a heartbeat (every second here) and aborts the engine: "chunk.cancelled"
  // is logged only when the cancellation interrupted the attempt before it finished
  await until(
    "the worker to abandon the chunk",
    () => (machineLogs().includes(`"chunk.cancelled"`) && machineLogs().includes(leased.id) ? true : undefined),
    20_000,
  );
  assert.ok(Date.now() - cancelledAt < 15_000, `abandoned after ${Date.now() - cancelledAt} ms`);

  const rows = await orch.store.listChunks(id);
  assert.ok(
    rows.every((c) => c.state === "cancelled" || c.state === "done"),
    JSON.stringify(rows.map((c) => c.state)),
  );
  assert.equal(rows.filter((c) => c.state === "done").length, 0, "nothing was running long enough to finish");
  // a late result of the abandoned attempt is fenced off, and the lifecycle forbids cancelled → done
  const late = {
    v: 1 as const,
    type: "result" as const,
    episodeId: id,
    chunkId: leased.id,
    attempt: leased.attempt,
    generation: leased.generation,
    machineId: leased.leaseOwner!,
    at: Date.now(),
    resultObject: "x",
    wordCount: 0,
    engine: "synthetic",
    processingMs: 1,
  };
  assert.equal(await orch.store.applyResult(late), "stale");
  assert.equal(await orch.store.applyClaim({ ...late, type: "claimed", attempt: leased.attempt + 1 }), "duplicate");
  await assert.rejects(orch.store.transitionEpisode(id, "done"), /cancelled → done is not allowed/);

  // the machines go back to idle and exit; the episode stays cancelled
  await until("the machines to idle out", async () => ((await liveMachines()) === 0 ? true : undefined), 60_000);
  const view = (await call("GET", `/v1/episodes/${id}`)).body;
  assert.equal(view.status, "cancelled");
  assert.equal(view.chunks.done, 0);
  assert.equal((await orch.store.chunkCounts(id)).queued + (await orch.store.chunkCounts(id)).leased, 0);
  assert.equal((await call("DELETE", `/v1/episodes/${id}`)).status, 409, "cancelling twice");
  assert.equal((await call("POST", `/v1/episodes/${id}/retry`, {})).status, 409, "a cancelled episode is not retried");
  assert.equal((await call("DELETE", "/v1/episodes/ep_nope")).status, 404);
});

test("cancel while queued: the audio is gone, workers that pull the jobs drop them, the episode stays cancelled", async () => {
  assert.equal((await call("PUT", "/v1/fleet/limits", { maxMachines: 0 })).status, 200);
  await until("no machine left", async () => ((await liveMachines()) === 0 ? true : undefined), 60_000);
  const id = await submit(await speechEpisode(tmp, 2));
  await until("chunks queued", async () => ((await orch.store.getEpisode(id))?.chunkCount != null ? true : undefined), 60_000);
  const chunks = await orch.store.listChunks(id);
  // "transcribing" is recorded before the jobs go out: cancel once every job is queued
  const jsm = await jetstreamManager(nc);
  await until(
    "every job queued",
    async () => ((await jsm.streams.info(orch.names.jobsStream)).state.messages >= chunks.length ? true : undefined),
    30_000,
  );
  assert.equal((await call("DELETE", `/v1/episodes/${id}`)).status, 200);
  const live = await audio.info(episodeLiveObjectName(id));
  assert.ok(live === null || live.deleted, "the episode's live marker is deleted: its jobs are cancelled for workers");
  assert.equal(fs.existsSync(path.join(dataDir, "audio", `${id}.pcm`)), false, "the kept audio is purged");
  assert.ok(
    chunks.every((c) => !machineLogs().includes(c.id)),
    "no worker has seen these chunks yet",
  );
  assert.equal((await call("PUT", "/v1/fleet/limits", { maxMachines: 1 })).status, 200);
  // the worker pulls each job, finds the marker gone, and terms it
  await until("a worker to drop every job", () => (chunks.every((c) => machineLogs().includes(c.id)) ? true : undefined), 60_000);
  const view = (await call("GET", `/v1/episodes/${id}`)).body;
  assert.equal(view.status, "cancelled");
  assert.deepEqual([view.chunks.cancelled, view.chunks.done], [chunks.length, 0]);
});

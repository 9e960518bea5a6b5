/**
 * A worker the registry does not know (a GPU box joining with the worker account) that dies holding
 * a chunk on its job's last delivery: JetStream will never deliver that job again, and no machine of
 * the fleet died, so only the holder's missing heartbeats can free the chunk. The orchestrator
 * re-queues it within the heartbeat limit and a fleet machine finishes the episode.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { connectAuth } from "../orchestrator/queue/nats-credentials.ts";
import { api, suiteCleanup } from "./support/ingest-stack.ts";
import { speechEpisode, startFleetStack, submitFile, until } from "./support/fleet-stack.ts";

const REPO = fileURLToPath(new URL("..", import.meta.url));
const HEARTBEAT_SEC = 1;
const LIMIT_SEC = 3;
const SWEEP_MS = 500;

const suite = suiteCleanup();
let episode: string;
before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-external-"));
  suite.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  episode = await speechEpisode(dir, 2);
});
after(() => suite.run());

test("an unknown worker SIGKILLed holding a chunk on its last delivery: the chunk is re-queued within the heartbeat limit", async (t) => {
  const orch = await startFleetStack(t, {
    PODFLEET_MAX_MACHINES: "0", // the fleet waits until the external worker has died
    PODFLEET_CHUNK_SECONDS: "0", // one chunk: its one job
    PODFLEET_MAX_ATTEMPTS: "2", // the external worker takes delivery 2, the job's last
    PODFLEET_ACK_WAIT_SEC: "120",
    PODFLEET_HEARTBEAT_SEC: String(HEARTBEAT_SEC),
    PODFLEET_HEARTBEAT_LIMIT_SEC: String(LIMIT_SEC),
    PODFLEET_SWEEP_INTERVAL_MS: String(SWEEP_MS),
  });
  const id = await submitFile(orch.url, episode);
  await until("the chunk queued", async () => ((await orch.store.getEpisode(id))?.status === "transcribing" ? true : undefined));
  const [chunk] = await orch.store.listChunks(id);
  assert.ok(chunk);

  // Use up delivery 1 (no claim), so the worker below gets the job's last delivery.
  const nc = await connect({ servers: orch.natsUrl, ...connectAuth(orch.natsAuth.orchestrator) });
  t.after(() => nc.close());
  const consumer = await jetstream(nc).consumers.get(orch.names.jobsStream, orch.names.jobsConsumer);
  const first = await consumer.next({ expires: 5_000 });
  assert.equal(first?.info.deliveryCount, 1);

  // A GPU box with the worker account: a worker process the orchestrator never created.
  const auth = orch.natsAuth.worker;
  assert.ok("user" in auth);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/tmp",
    NATS_URL: orch.natsUrl,
    NATS_USER: auth.user,
    NATS_PASSWORD: auth.password,
    PODFLEET_NATS_PREFIX: orch.config.nats.prefix,
    FLY_MACHINE_ID: "gpu-box-1",
    ENGINE: "synthetic", // sleeps 20 × the audio's length: it holds the chunk until it is killed
    PODFLEET_SYNTHETIC_RTF: "20",
    PODFLEET_HEARTBEAT_SEC: String(HEARTBEAT_SEC),
    PODFLEET_IDLE_TIMEOUT_SEC: "600",
  };
  const box = spawn(process.execPath, ["--import", "tsx", "machine-image/worker/main.ts"], { cwd: REPO, env, stdio: ["ignore", "ignore", "pipe"] });
  t.after(() => {
    if (box.exitCode === null && box.signalCode === null) box.kill("SIGKILL");
  });
  await until("the worker started", () => (box.pid ? true : undefined));
  first.nak();

  const held = await until(
    "the chunk claimed by the unknown worker",
    async () => {
      const c = await orch.store.getChunk(chunk.id);
      return c?.state === "leased" && c.leaseOwner === "gpu-box-1" ? c : undefined;
    },
    60_000,
  );
  assert.equal(held.attempt, 2, "it holds the job's last delivery");
  assert.equal(
    (await orch.fleet.registry.active()).some((m) => m.id === "gpu-box-1"),
    false,
    "the registry does not know it",
  );
  // While it beats, it keeps the chunk past the limit.
  await until(
    "heartbeats for longer than the limit",
    async () => {
      const c = await orch.store.getChunk(chunk.id);
      return c?.heartbeatAt && c.leasedAt && c.leaseOwner === "gpu-box-1" && c.heartbeatAt - c.leasedAt > (LIMIT_SEC + 1) * 1000 ? c : undefined;
    },
    30_000,
  );
  assert.equal((await orch.store.getChunk(chunk.id))?.generation, held.generation, "not re-queued while it beats");

  box.kill("SIGKILL");
  const killedAt = Date.now();
  assert.equal((await api(orch.url, "PUT", "/v1/fleet/limits", { maxMachines: 1 })).status, 200);
  const requeued = await until(
    "the chunk re-queued",
    async () => {
      const c = await orch.store.getChunk(chunk.id);
      return c && c.generation > held.generation ? c : undefined;
    },
    30_000,
  );
  const requeueMs = Date.now() - killedAt;
  t.diagnostic(
    `chunk re-queued ${requeueMs} ms after SIGKILL (heartbeat every ${HEARTBEAT_SEC} s, limit ${LIMIT_SEC} s, sweep every ${SWEEP_MS} ms; ack wait 120 s, and no redelivery after the last)`,
  );
  assert.ok(requeueMs <= LIMIT_SEC * 1000 + 2 * SWEEP_MS + 3_000, `re-queued after ${requeueMs} ms`);
  assert.match(requeued.lastError ?? "", /gpu-box-1 sent no heartbeat for \d+ s; re-queued/);

  const done = await until(
    "the episode done",
    async () => {
      const ep = await orch.store.getEpisode(id);
      assert.notEqual(ep?.status, "failed", ep?.error ?? "");
      return ep?.status === "done" ? ep : undefined;
    },
    120_000,
  );
  t.diagnostic(`episode done ${Date.now() - killedAt} ms after the kill`);
  assert.ok(done);
  const finished = await orch.store.getChunk(chunk.id);
  assert.equal(finished?.generation, held.generation + 1);
  assert.notEqual(finished?.leaseOwner, "gpu-box-1", "finished by a fleet machine");
  const events = await orch.fleet.registry.events(100, "gpu-box-1");
  assert.ok(
    events.some((e) => e.kind === "requeue" && /no heartbeat/.test(e.reason ?? "") && e.detail === chunk.id),
    JSON.stringify(events),
  );
});

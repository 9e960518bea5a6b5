/**
 * Test helper: the multi-orchestrator topology on one computer, every part a real process on
 * 127.0.0.1: a 3-node JetStream cluster, one sqld (DATABASE_URL), one Machines runtime, and
 * `podfleet up` processes in Fly mode against that runtime, each with its own data directory and
 * the same database, NATS servers and admin token. The runtime runs inside the test process so a
 * test counts machines from the runtime's own 'state' events (RuntimeRecorder), trusting no
 * orchestrator. Everything stops by itself in `t.after`, orchestrators first.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { buildWorkerBundle } from "../../machine-image/build-worker.ts";
import { LocalMachinesRuntime } from "../../orchestrator/fleet/local-runtime.ts";
import { workerLaunchSpec } from "../../orchestrator/fleet/worker-launch.ts";
import { rememberToken } from "./auth.ts";
import { suiteCleanup, type CleanupContext } from "./cleanup.ts";
import { RuntimeRecorder } from "./fleet-stack.ts";
import { startNatsCluster, type TestNatsCluster } from "./nats-cluster.ts";
import { uniquePrefix } from "./nats.ts";
import { startTestSqld, type TestSqld } from "./sqld.ts";
import { logTails, startUp, type UpProcess } from "./up-process.ts";

export const CLUSTER_APP = "podfleet-cluster";

export interface ClusterStackOptions {
  /** Worker speech engine (default pocketsphinx: real, deterministic words to compare). */
  engine?: "pocketsphinx" | "synthetic";
  /** Fleet cap both orchestrators are given (default 2). */
  maxMachines?: number;
  /** Added to every orchestrator's environment (after the defaults). */
  env?: Record<string, string>;
  /** How orchestrators and workers name NATS: every cluster node (default) or the first only. */
  natsServers?: "all" | "first";
}

/** One `podfleet up` of the stack. */
export interface ClusterOrchestrator {
  readonly name: string;
  readonly dataDir: string;
  readonly up: UpProcess;
  readonly url: string;
  /** Its log tails (stderr and data-dir logs), for failure messages. */
  logs(): string;
}

export interface ClusterStack {
  readonly nats: TestNatsCluster;
  readonly sqld: TestSqld;
  readonly runtime: LocalMachinesRuntime;
  /** Live machines at every instant and every state, from the runtime's own events. */
  readonly recorder: RuntimeRecorder;
  readonly machinesUrl: string;
  /** The admin token every orchestrator accepts (PODFLEET_ADMIN_TOKEN). */
  readonly adminToken: string;
  /** The environment every orchestrator gets (secrets included; never print it). */
  readonly env: Record<string, string>;
  readonly orchestrators: ClusterOrchestrator[];
  /** Starts one more `podfleet up` named `name` (a fresh data directory). */
  addOrchestrator(name: string): Promise<ClusterOrchestrator>;
  /** Every orchestrator's logs, for failure messages. */
  logs(): string;
}

/** Runs `body`; when it throws, every orchestrator's log tails go to stderr first (a failure on this stack needs them). */
export async function withStackLogs<T>(stack: ClusterStack, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    process.stderr.write(`\n${stack.logs()}\n`);
    throw err;
  }
}

/** SIGTERM (SIGKILL after 15 s) and wait, unless it is already gone. */
async function stopUp(up: UpProcess): Promise<void> {
  if (up.child.exitCode !== null || up.child.signalCode !== null) return;
  // a SIGSTOPped process must be continued before it can act on SIGTERM
  up.child.kill("SIGCONT");
  up.child.kill("SIGTERM");
  const timer = setTimeout(() => up.child.kill("SIGKILL"), 15_000);
  await up.exited;
  clearTimeout(timer);
}

/** Starts the whole stack with `count` orchestrators (started one after the other: the first usually leads). */
export async function startClusterStack(test: CleanupContext, count = 2, opts: ClusterStackOptions = {}): Promise<ClusterStack> {
  // node:test runs a test's own after hooks in the order they were added: the stack keeps its own
  // list so that it stops newest first (orchestrators before the NATS and database they drain into)
  const t = suiteCleanup();
  test.after(() => t.run());
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-cluster-"));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const [nats, sqld, bundle] = await Promise.all([
    startNatsCluster(t, { size: 3 }),
    startTestSqld(t),
    buildWorkerBundle(path.join(root, "worker", "worker.mjs")),
  ]);

  const spec = workerLaunchSpec(bundle);
  const runtime = new LocalMachinesRuntime({
    app: CLUSTER_APP,
    launch: () => spec,
    logDir: path.join(root, "machine-logs"),
    owner: root,
    rateLimits: false,
    closeGraceMs: 1000,
  });
  const { url: machinesUrl, token: machinesToken } = await runtime.start();
  t.after(() => runtime.close());
  const recorder = new RuntimeRecorder(runtime);
  t.after(() => recorder.stop());

  const adminToken = randomBytes(24).toString("hex");
  const env: Record<string, string> = {
    DATABASE_URL: sqld.url,
    NATS_URL: opts.natsServers === "first" ? nats.urls[0]! : nats.url,
    PODFLEET_NATS_PREFIX: uniquePrefix("cl"),
    FLY_API_URL: machinesUrl,
    FLY_API_TOKEN: machinesToken,
    FLY_APP: CLUSTER_APP,
    PODFLEET_WORKER_IMAGE: "podfleet-worker:cluster-test",
    PODFLEET_ADMIN_TOKEN: adminToken,
    PODFLEET_ENGINE: opts.engine ?? "pocketsphinx",
    PODFLEET_ALLOW_PRIVATE_URLS: "1",
    PODFLEET_LOG_LEVEL: "info",
    PODFLEET_LOG_FORMAT: "json",
    PODFLEET_MAX_MACHINES: String(opts.maxMachines ?? 2),
    PODFLEET_CHUNK_SECONDS: "4",
    PODFLEET_CHUNK_PAD_SECONDS: "0",
    PODFLEET_IDLE_TIMEOUT_SEC: "3",
    PODFLEET_AUTOSCALE_INTERVAL_MS: "500",
    PODFLEET_SWEEP_INTERVAL_MS: "1000",
    PODFLEET_WORKER_STOP_TIMEOUT_SEC: "5",
    ...opts.env,
  };

  const orchestrators: ClusterOrchestrator[] = [];
  const addOrchestrator = async (name: string): Promise<ClusterOrchestrator> => {
    const dataDir = path.join(root, name);
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const up = await startUp(dataDir, env);
    t.after(() => stopUp(up));
    rememberToken(up.url, adminToken);
    const o: ClusterOrchestrator = { name, dataDir, up, url: up.url, logs: () => logTails(dataDir, up.stderr(), 30) };
    orchestrators.push(o);
    return o;
  };
  for (let i = 0; i < count; i += 1) await addOrchestrator(String.fromCharCode(97 + i)); // a, b, …
  return {
    nats,
    sqld,
    runtime,
    recorder,
    machinesUrl,
    adminToken,
    env,
    orchestrators,
    addOrchestrator,
    logs: () => orchestrators.map((o) => `===== orchestrator ${o.name} (${o.url})\n${o.logs()}`).join("\n"),
  };
}

/**
 * Simulated machines for the backlog benchmark: ONE process running `count` real worker pull
 * loops (runWorker, the code a machine runs) with the benchmark-only synthetic engine, sharing a
 * few NATS connections. They speak the real wire protocol (pull, claim, object store, result
 * events, ack); what is simulated is only "one machine = one OS process", which 200 times over
 * would not fit on this 2-core box.
 *
 * Usage: NATS_USER=… NATS_PASSWORD=… node --import tsx bench/sim-fleet.ts NATS_URL PREFIX COUNT RTF
 * (the worker account, as real machines get it: its limited permissions apply to the simulation too)
 * Prints "ready" once every loop has its consumer; stops on SIGTERM and prints a JSON summary.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { setMaxListeners } from "node:events";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { WORKER_ENV, wireNames, workerInboxPrefix } from "../contract/wire.ts";
import { SyntheticEngine } from "../machine-image/worker/synthetic-engine.ts";
import { runWorker } from "../machine-image/worker/worker.ts";

const [natsUrl = "", prefix = "podfleet", countArg = "1", rtfArg = "0"] = process.argv.slice(2);
const count = Number(countArg);
const LOOPS_PER_CONNECTION = 25;

async function main(): Promise<void> {
  const names = wireNames(prefix);
  const engine = new SyntheticEngine({ realTimeFactor: Number(rtfArg) });
  const stop = new AbortController();
  setMaxListeners(0, stop.signal); // every pull loop listens on the one stop signal
  process.on("SIGTERM", () => stop.abort(new Error("SIGTERM")));
  const workDir = await mkdtemp(join(tmpdir(), "podfleet-simfleet-"));
  const conns: NatsConnection[] = [];
  for (let i = 0; i < Math.ceil(count / LOOPS_PER_CONNECTION); i++)
    conns.push(
      await connect({
        servers: natsUrl,
        name: `sim-fleet-${i}`,
        inboxPrefix: workerInboxPrefix(names),
        ...(process.env[WORKER_ENV.natsUser] ? { user: process.env[WORKER_ENV.natsUser], pass: process.env[WORKER_ENV.natsPassword] ?? "" } : {}),
      }),
    );
  let started = 0;
  const loops = Array.from({ length: count }, (_, i) =>
    runWorker({
      nc: conns[Math.floor(i / LOOPS_PER_CONNECTION)]!,
      names,
      engine,
      machineId: `sim-${String(i).padStart(3, "0")}`,
      idleTimeoutMs: 24 * 3600_000,
      pullExpiresMs: 5_000,
      workDir: join(workDir, String(i)),
      signal: stop.signal,
      log: (event) => {
        if (event === "worker.started" && ++started === count) process.stdout.write("ready\n");
      },
    }),
  );
  const results = await Promise.allSettled(loops);
  const processed = results.reduce((n, r) => n + (r.status === "fulfilled" ? r.value.processed : 0), 0);
  const failed = results.filter((r) => r.status === "rejected").length;
  for (const nc of conns) await nc.drain().catch(() => undefined);
  await rm(workDir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify({ processed, loopsFailed: failed })}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`sim-fleet: ${String(err)}\n`);
    process.exit(1);
  },
);

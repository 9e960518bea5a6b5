/**
 * How long the singleton duties go unowned when their leader dies: two Leadership instances on one
 * nats-server, the leader abandoned (what a SIGKILL leaves: no release, the key ages out) at a
 * random moment of its renewal period, and the time until the other is elected. Also a clean stop
 * (the key deleted, the follower woken by the release watch). Lease mechanics only, one process:
 * the whole-orchestrator failover under a NATS cluster is the cluster test's to measure.
 * Usage: `npm run bench:leader-failover [-- RUNS [TTL_SEC]]` (default 5 runs, PODFLEET_LEADER_LEASE_SEC's default TTL).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { wireNames } from "../contract/wire.ts";
import { LeaderLease } from "../orchestrator/cluster/leader-lease.ts";
import { Leadership } from "../orchestrator/cluster/leadership.ts";
import { DEFAULT_LEADER_LEASE_SEC } from "../orchestrator/config.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startNatsServer } from "../orchestrator/queue/nats-server.ts";

const runs = Number(process.argv[2] ?? 5);
const ttlMs = Number(process.argv[3] ?? DEFAULT_LEADER_LEASE_SEC) * 1000;
const storeDir = mkdtempSync(join(tmpdir(), "podfleet-failover-"));
const server = await startNatsServer({ storeDir });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function pair(prefix: string): Promise<{ a: Leadership; b: Leadership; elected: () => number }> {
  let electedAt = 0;
  const make = async (holder: string, onElected: () => void): Promise<Leadership> => {
    const nc = await connect({ servers: server.url });
    const lease = await LeaderLease.open(nc, wireNames(prefix), { ttlMs });
    return new Leadership({ lease, holder, ttlMs, log: createLogger("silent"), onElected: () => Promise.resolve(onElected()) });
  };
  const a = await make("a", () => undefined);
  const b = await make("b", () => void (electedAt = performance.now()));
  await a.start();
  await b.start();
  return { a, b, elected: () => electedAt };
}

async function measure(prefix: string, end: (a: Leadership) => Promise<void>): Promise<number> {
  const { a, b, elected } = await pair(prefix);
  await sleep(Math.random() * (ttlMs / 4)); // anywhere in the renewal period
  const t0 = performance.now();
  await end(a);
  while (elected() === 0) await sleep(10);
  await b.stop();
  return elected() - t0;
}

try {
  const killed: number[] = [];
  const stopped: number[] = [];
  for (let i = 0; i < runs; i++) {
    killed.push(await measure(`fok${i}`, (a) => a.abandon()));
    stopped.push(await measure(`fos${i}`, (a) => a.stop()));
  }
  const fmt = (xs: number[]) => xs.map((x) => `${Math.round(x)} ms`).join(", ");
  console.log(`lease TTL ${ttlMs} ms, ${runs} runs`);
  console.log(`killed leader (no release) → successor elected: ${fmt(killed)}; worst ${Math.round(Math.max(...killed))} ms`);
  console.log(`clean stop (release) → successor elected: ${fmt(stopped)}; worst ${Math.round(Math.max(...stopped))} ms`);
} finally {
  await server.stop();
  rmSync(storeDir, { recursive: true, force: true });
}
process.exit(0);

/**
 * A worker that ends before it claimed any work tells the orchestrator why (WorkerBootFailed on the
 * events stream) before it exits, so the fleet backs off instead of creating machine after machine
 * that all die the same way. Best effort and bounded: a worker that cannot reach NATS (or whose
 * configuration names no usable NATS) just exits, and the machine's exit event is all that is seen.
 */
import { parseNatsServers } from "../../contract/nats-servers.ts";
import { hostname } from "node:os";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { bootFailedMessageId, bootFailedSubject, WORKER_ENV, wireNames, workerInboxPrefix, type WorkerBootFailed } from "../../contract/wire.ts";
import type { WorkerLog } from "./chunk-attempt.ts";

/** Where a boot failure goes: read leniently, since the configuration may be what failed. */
export interface BootReportTarget {
  readonly natsUrl: string;
  readonly prefix: string;
  readonly machineId: string;
  readonly user: string | undefined;
  readonly password: string | undefined;
  readonly token: string | undefined;
}

/** The NATS settings from the environment, or undefined when they are unusable. */
export function bootReportTarget(env: Readonly<Record<string, string | undefined>>): BootReportTarget | undefined {
  const get = (name: string): string | undefined => env[name]?.trim() || undefined;
  const natsUrl = get(WORKER_ENV.natsUrl);
  const prefix = get(WORKER_ENV.natsPrefix) ?? "podfleet";
  if (!natsUrl) return undefined;
  try {
    wireNames(prefix);
  } catch {
    return undefined;
  }
  return {
    natsUrl,
    prefix,
    machineId: get(WORKER_ENV.machineId) ?? `${hostname()}-${process.pid}`,
    user: get(WORKER_ENV.natsUser),
    password: get(WORKER_ENV.natsPassword),
    token: get(WORKER_ENV.natsToken),
  };
}

/** Longest a report may delay the exit. */
const REPORT_TIMEOUT_MS = 5_000;

/** Publishes WorkerBootFailed (waiting for the stream's ack, at most REPORT_TIMEOUT_MS); never throws. */
export async function reportBootFailure(target: BootReportTarget | undefined, exitCode: number, reason: string, log: WorkerLog): Promise<boolean> {
  if (!target) return false;
  const names = wireNames(target.prefix);
  const event: WorkerBootFailed = {
    v: 1,
    type: "boot_failed",
    machineId: target.machineId,
    exitCode,
    reason: reason.slice(0, 2000) || "unknown",
    at: Date.now(),
  };
  let nc;
  try {
    nc = await connect({
      servers: parseNatsServers(target.natsUrl),
      name: `podfleet-worker ${target.machineId} (boot report)`,
      inboxPrefix: workerInboxPrefix(names),
      timeout: REPORT_TIMEOUT_MS,
      maxReconnectAttempts: 0,
      ...(target.user ? { user: target.user, pass: target.password ?? "" } : {}),
      ...(target.token ? { token: target.token } : {}),
    });
    await jetstream(nc, { timeout: REPORT_TIMEOUT_MS }).publish(bootFailedSubject(names), JSON.stringify(event), {
      msgID: bootFailedMessageId(target.machineId),
    });
    log("worker.boot_failure_reported", { exitCode });
    return true;
  } catch (err) {
    log("worker.boot_failure_report_failed", { error: String(err) });
    return false;
  } finally {
    await nc?.close().catch(() => undefined);
  }
}

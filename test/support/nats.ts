/**
 * Test helpers: a private nats-server per test (temp JetStream store, random port) that is
 * stopped and removed when the test ends, and unique NATS name prefixes.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNatsServer, type NatsServerHandle, type NatsUser } from "../../orchestrator/queue/nats-server.ts";
import type { CleanupContext } from "./cleanup.ts";

// Kept here for the tests that import it from this module; new code imports ./cleanup.ts.
export type { CleanupContext } from "./cleanup.ts";

export interface TestNats {
  readonly url: string;
  readonly server: NatsServerHandle;
  readonly storeDir: string;
}

/** Starts nats-server with JetStream in a fresh temp dir; stops it and deletes the dir in `t.after`. */
export async function startTestNats(
  t: CleanupContext,
  opts: { token?: string; users?: readonly NatsUser[]; /** file name inside the store dir */ logFile?: string } = {},
): Promise<TestNats> {
  const storeDir = await mkdtemp(join(tmpdir(), "podfleet-nats-"));
  let server: NatsServerHandle;
  try {
    server = await startNatsServer({
      storeDir,
      ...(opts.token ? { token: opts.token } : {}),
      ...(opts.users ? { users: opts.users } : {}),
      ...(opts.logFile ? { logFile: join(storeDir, opts.logFile) } : {}),
    });
  } catch (err) {
    await rm(storeDir, { recursive: true, force: true });
    throw err;
  }
  t.after(async () => {
    await server.stop();
    await rm(storeDir, { recursive: true, force: true });
  });
  return { url: server.url, server, storeDir };
}

let counter = 0;

/** A NATS name prefix unique to this process and call, valid for wireNames(). */
export function uniquePrefix(label = "t"): string {
  counter += 1;
  const rand = Math.random().toString(36).slice(2, 6);
  return `${label}${process.pid.toString(36)}${counter.toString(36)}${rand}`.toLowerCase().slice(0, 32);
}

/**
 * Two orchestrators on one libSQL server (sqld) and one NATS, each with its own data directory,
 * started at the same moment with the same PODFLEET_ADMIN_TOKEN: nothing either needs is only in
 * the other's data directory, and neither start revokes what the other uses. Both accept each
 * other's data-dir tokens and the environment token; the fleet id and the callback signing secret
 * are the same settings rows; an orchestrator started on a fresh data directory still works with
 * the environment token.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { parseConfig } from "../orchestrator/config.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../orchestrator/orchestrator.ts";
import { startTestNats } from "./support/nats.ts";
import { startTestSqld } from "./support/sqld.ts";

const ENV_TOKEN = "env-admin-token-shared-by-both-orchestrators-0123456789";

/**
 * Starts an orchestrator and has `closing` close it. node:test runs a test's `after` hooks in the
 * order they were added, so the orchestrators' hook is added before NATS and sqld are started:
 * they close while their servers are still up.
 */
async function orchestrator(closing: (() => Promise<void>)[], env: Record<string, string>): Promise<Orchestrator> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-shared-state-"));
  const config = parseConfig(
    { PODFLEET_MAX_MACHINES: "0", PODFLEET_LOG_LEVEL: "silent", PODFLEET_ADMIN_TOKEN: ENV_TOKEN, ...env },
    { dataDir, port: 0, host: "127.0.0.1" },
  );
  closing.push(async () => fs.rmSync(dataDir, { recursive: true, force: true }));
  const orch = await startOrchestrator(config, createLogger("silent"));
  closing.push(() => orch.close());
  return orch;
}

async function status(orch: Orchestrator, token: string): Promise<number> {
  const res = await fetch(new URL("/v1/episodes", orch.url), { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

test("a second orchestrator starting revokes nothing of the first's, and they share tokens and settings", { timeout: 180_000 }, async (t) => {
  const closing: (() => Promise<void>)[] = [];
  t.after(async () => {
    for (const step of closing.reverse()) await step();
  });
  const nats = await startTestNats(t);
  const sqld = await startTestSqld(t);
  const env = { NATS_URL: nats.url, DATABASE_URL: sqld.url };
  // at the same moment, on a fresh database: both migrate it, both create their tokens
  const started = await Promise.allSettled([orchestrator(closing, env), orchestrator(closing, env)]);
  const [a, b] = started.map((r) => {
    if (r.status === "rejected") throw r.reason;
    return r.value;
  }) as [Orchestrator, Orchestrator];
  assert.notEqual(a.adminToken, b.adminToken, "each data directory has its own token");
  for (const orch of [a, b]) {
    for (const token of [a.adminToken, b.adminToken, ENV_TOKEN]) assert.equal(await status(orch, token), 200);
  }
  const res = await fetch(new URL("/v1/tokens", a.url), { headers: { authorization: `Bearer ${ENV_TOKEN}` } });
  const { tokens } = (await res.json()) as { tokens: { name: string; revokedAt: string | null }[] };
  assert.equal(tokens.filter((x) => x.name === "environment admin" && x.revokedAt === null).length, 1, "one live environment token");
  assert.equal(tokens.filter((x) => x.revokedAt !== null).length, 0, "nothing revoked by either start");

  for (const key of ["fleet_id", "callback_signing_secret"]) {
    const [va, vb] = [await a.store.getSetting(key), await b.store.getSetting(key)];
    assert.ok(va, `${key} set`);
    assert.equal(va, vb, `${key} is one settings row for both`);
  }

  // a third one on a fresh data directory (say, a replaced machine) takes the environment token too
  const c = await orchestrator(closing, env);
  assert.equal(await status(c, ENV_TOKEN), 200);
  assert.equal(await status(c, a.adminToken), 200);
  assert.equal(await status(a, c.adminToken), 200);
});

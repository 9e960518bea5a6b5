/**
 * Secrets never leak: a full small episode runs with NATS_TOKEN set (the embedded nats-server
 * requires it, workers get it in their env), arriving through a signed webhook; then every log
 * file under the data directory, the nats-server's command line and the API's views are
 * searched for the token and the webhook secret.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { connect } from "@nats-io/transport-node";
import { parseConfig } from "../orchestrator/config.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator } from "../orchestrator/orchestrator.ts";
import { signStandard } from "../orchestrator/sources/webhook-signature.ts";
import { SHORT_TEXT } from "./support/corpus.ts";
import { serveFiles } from "./support/file-server.ts";
import { synthesizeEpisode } from "./support/speech.ts";
import { until } from "./support/until.ts";

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: "utf8" })
    .map((f) => path.join(dir, f))
    .filter((f) => fs.statSync(f).isFile());
}

test("a full run with NATS credentials, an env admin token and a webhook secret logs none of them", { timeout: 180_000 }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-secrets-"));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const dataDir = path.join(tmp, "data");
  const natsToken = `nats-${randomBytes(16).toString("hex")}`;
  const envAdminToken = `env-${randomBytes(24).toString("hex")}`;
  const logDir = path.join(dataDir, "logs");
  fs.mkdirSync(logDir, { recursive: true });
  const logFile = path.join(logDir, "orchestrator.log");
  const log = createLogger("debug", { component: "orchestrator" }, (line) => fs.appendFileSync(logFile, line + "\n"));

  const config = parseConfig(
    {
      NATS_TOKEN: natsToken,
      PODFLEET_ADMIN_TOKEN: envAdminToken,
      PODFLEET_MAX_MACHINES: "1",
      PODFLEET_IDLE_TIMEOUT_SEC: "2",
      PODFLEET_AUTOSCALE_INTERVAL_MS: "500",
      PODFLEET_ALLOW_PRIVATE_URLS: "1",
      PODFLEET_CHUNK_SECONDS: "0",
      PODFLEET_NATS_PREFIX: "secrets",
    },
    { dataDir, port: 0 },
  );
  const orch = await startOrchestrator(config, log);
  const auth = { authorization: `Bearer ${orch.adminToken}` };
  let closed = false;
  t.after(async () => {
    if (!closed) await orch.close();
  });

  // The embedded server requires credentials, and does not show them on its command line.
  await assert.rejects(connect({ servers: orch.natsUrl, reconnect: false }), /Authorization|auth/i);
  const natsPid = Number(fs.readFileSync(path.join(dataDir, "nats-server.pid"), "utf8"));
  const argv = fs.readFileSync(`/proc/${natsPid}/cmdline`, "utf8");
  assert.ok(!argv.includes(natsToken), "orchestrator password not in the nats-server argv");
  assert.ok("password" in orch.natsAuth.worker, "workers have their own NATS user");
  const workerPassword = orch.natsAuth.worker.password;
  assert.ok(!argv.includes(workerPassword), "worker password not in the nats-server argv");
  assert.equal(fs.statSync(path.join(dataDir, "nats-credentials.json")).mode & 0o777, 0o600);
  // PODFLEET_ADMIN_TOKEN is an admin credential besides the data-dir token.
  assert.equal((await fetch(`${orch.url}/v1/episodes`, { headers: { authorization: `Bearer ${envAdminToken}` } })).status, 200);

  const audio = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs.slice(0, 1), dir: tmp });
  const files = await serveFiles(t, { "/ep.wav": { path: audio.path, contentType: "audio/wav" } });
  const src = (await (
    await fetch(`${orch.url}/v1/sources`, {
      method: "POST",
      body: JSON.stringify({ name: "host", scheme: "standard" }),
      headers: { "content-type": "application/json", ...auth },
    })
  ).json()) as { url: string; secret: string };
  const hookSecret = src.secret;
  const body = JSON.stringify({ audioUrl: `${files.url}/ep.wav`, title: "secret test" });
  const ts = Math.floor(Date.now() / 1000);
  // one refused delivery (bad signature) so the error path is logged too
  const bad = await fetch(src.url, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "webhook-id": "m0", "webhook-timestamp": String(ts), "webhook-signature": "v1,AAAA" },
  });
  assert.equal(bad.status, 401);
  const res = await fetch(src.url, {
    method: "POST",
    body,
    headers: {
      "content-type": "application/json",
      "webhook-id": "m1",
      "webhook-timestamp": String(ts),
      "webhook-signature": signStandard(hookSecret, "m1", ts, body),
    },
  });
  assert.equal(res.status, 202);
  const { episodeId } = (await res.json()) as { episodeId: string };

  const api: string[] = [];
  const view = await until(
    "the episode to finish",
    async () => {
      const text = await (await fetch(`${orch.url}/v1/episodes/${episodeId}`, { headers: auth })).text();
      const machines = await (await fetch(`${orch.url}/v1/machines`, { headers: auth })).text();
      api.push(text, machines);
      const v = JSON.parse(text) as { status: string; error: string | null };
      return v.status === "done" || v.status === "failed" ? v : undefined;
    },
    150_000,
    250,
  );
  assert.equal(view.status, "done", `episode failed: ${view.error}`);
  for (const p of [
    "/v1/episodes",
    "/v1/sources",
    "/v1/machines",
    `/v1/episodes/${episodeId}/deliveries`,
    `/v1/episodes/${episodeId}/transcript.json`,
  ]) {
    api.push(await (await fetch(`${orch.url}${p}`, { headers: auth })).text());
  }
  // The machines got the worker account, not the orchestrator's password.
  const launched = await orch.machines.list({ includeDeleted: true });
  assert.ok(launched.length > 0);
  for (const m of launched) {
    const env = m.config?.env ?? {};
    assert.equal(env.NATS_USER, "podfleet-worker");
    assert.equal(env.NATS_PASSWORD, workerPassword);
    assert.ok(!Object.values(env).includes(natsToken), "the orchestrator's NATS password is not in a machine's env");
  }
  await orch.close();
  closed = true;

  const logs = filesUnder(logDir);
  assert.ok(
    logs.some((f) => f.includes(`${path.sep}machines${path.sep}`)),
    `a worker log exists: ${logs.join(", ")}`,
  );
  assert.ok(fs.readFileSync(logFile, "utf8").includes("episode done"), "the orchestrator log has the run");
  for (const [name, secret] of [
    ["NATS_TOKEN", natsToken],
    ["worker NATS password", workerPassword],
    ["PODFLEET_ADMIN_TOKEN", envAdminToken],
    ["admin API token", orch.adminToken],
    ["webhook secret", hookSecret],
    ["webhook secret (base64 key part)", hookSecret.replace(/^whsec_/, "")],
  ] as const) {
    for (const f of logs) assert.ok(!fs.readFileSync(f, "utf8").includes(secret), `${name} found in ${path.relative(dataDir, f)}`);
    for (const text of api) assert.ok(!text.includes(secret), `${name} found in an API response`);
  }
});

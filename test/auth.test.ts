/**
 * Admin API authentication: which routes need a bearer token, 401 JSON without or with a bad one,
 * tokens stored hashed, created/listed/revoked through the API and the CLI, and the data
 * directory's admin-token file (mode 600) that a restart reuses and the CLI reads by itself.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient } from "@libsql/client";
import { TokenStore } from "../orchestrator/auth/token-store.ts";
import { parseConfig } from "../orchestrator/config.ts";
import { Database } from "../orchestrator/store/database.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../orchestrator/orchestrator.ts";
import { runCli } from "./support/cli.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-auth-"));
const dataDir = path.join(tmp, "data");
const config = parseConfig(
  { PODFLEET_MAX_MACHINES: "0", PODFLEET_NATS_PREFIX: "authtest", PODFLEET_LOG_LEVEL: "silent" },
  { dataDir, port: 0, host: "127.0.0.1" },
);
let orch: Orchestrator;

before(async () => {
  orch = await startOrchestrator(config, createLogger("silent"));
});
after(async () => {
  await orch?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const req = (method: string, p: string, headers: Record<string, string> = {}, body?: string) =>
  fetch(`${orch.url}${p}`, { method, headers: { ...(body ? { "content-type": "application/json" } : {}), ...headers }, ...(body ? { body } : {}) });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("admin API authentication", () => {
  const guarded: Array<[string, string, string?]> = [
    ["GET", "/v1/episodes"],
    ["POST", "/v1/episodes", JSON.stringify({ audioUrl: "https://example.com/a.mp3" })],
    ["GET", "/v1/episodes/ep_x"],
    ["DELETE", "/v1/episodes/ep_x"],
    ["POST", "/v1/episodes/ep_x/retry", "{}"],
    ["GET", "/v1/episodes/ep_x/deliveries"],
    ["GET", "/v1/machines"],
    ["GET", "/v1/sources"],
    ["GET", "/v1/callbacks/signing-secret"],
    ["GET", "/v1/tokens"],
    ["POST", "/v1/tokens", JSON.stringify({ name: "x" })],
    ["GET", "/v1/fleet"],
    ["GET", "/v1/feeds"],
    ["GET", "/metrics"],
    ["GET", "/v2/unknown"],
  ];
  for (const [method, p, body] of guarded) {
    test(`${method} ${p} → 401 JSON without a token, with a wrong one, and with a malformed header`, async () => {
      for (const headers of [{}, bearer("pf_not-a-real-token"), { authorization: orch.adminToken }, { authorization: "Basic YTpi" }]) {
        const res = await req(method, p, headers, body);
        assert.equal(res.status, 401, `${method} ${p} with ${JSON.stringify(Object.keys(headers))}`);
        assert.match(res.headers.get("content-type") ?? "", /application\/json/);
        assert.equal(((await res.json()) as { error: { code: string } }).error.code, "unauthorized");
      }
    });
  }

  test("the same requests pass the gate with the admin token", async () => {
    assert.equal((await req("GET", "/v1/episodes", bearer(orch.adminToken))).status, 200);
    assert.equal((await req("GET", "/v1/machines", bearer(orch.adminToken))).status, 200);
    assert.equal((await req("GET", "/v1/episodes/ep_x", bearer(orch.adminToken))).status, 404);
    assert.equal((await req("GET", "/v1/episodes/ep_x", { authorization: `bearer  ${orch.adminToken}` })).status, 404, "scheme is case-insensitive");
  });

  test("open without a token: /healthz, the hook endpoints, published transcripts and their preflight", async () => {
    assert.equal((await req("GET", "/healthz")).status, 200);
    const hook = await req("POST", "/v1/hooks/no-such-token", {}, "{}");
    assert.notEqual(hook.status, 401, "a hook is judged by its own URL token and signature");
    assert.equal(((await hook.json()) as { error: { code: string } }).error.code, "unknown_source");
    for (const f of ["transcript.txt", "transcript.srt", "transcript.vtt", "transcript.json", "podcast-transcript.xml"]) {
      const res = await req("GET", `/v1/episodes/ep_missing/${f}`);
      assert.equal(res.status, 404, f);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, "not_found");
    }
    assert.notEqual((await req("OPTIONS", "/v1/episodes/ep_missing/transcript.vtt")).status, 401);
    // but not the episode's other sub-resources
    assert.equal((await req("GET", "/v1/episodes/ep_missing/deliveries")).status, 401);
  });
});

describe("tokens", () => {
  test("created through the API, stored only as a SHA-256, listed without their value, revoked", async () => {
    const created = await req("POST", "/v1/tokens", bearer(orch.adminToken), JSON.stringify({ name: "ci" }));
    assert.equal(created.status, 201);
    const t = (await created.json()) as { id: string; name: string; token: string };
    assert.match(t.token, /^pf_[A-Za-z0-9_-]{40,}$/);
    assert.equal((await req("GET", "/v1/episodes", bearer(t.token))).status, 200);

    const listText = await (await req("GET", "/v1/tokens", bearer(t.token))).text();
    assert.ok(!listText.includes(t.token) && !listText.includes(orch.adminToken), "list shows no token");
    const list = JSON.parse(listText) as { tokens: Array<{ id: string; name: string; revokedAt: string | null }> };
    assert.deepEqual(list.tokens.map((x) => x.name).sort(), ["ci", "data-dir admin"]);

    const db = createClient({ url: `file:${path.join(dataDir, "podfleet.db")}` });
    try {
      const rows = (await db.execute("SELECT * FROM api_tokens")).rows;
      const dump = JSON.stringify(rows);
      assert.ok(!dump.includes(t.token) && !dump.includes(orch.adminToken), "no token in the database");
      assert.ok(rows.some((r) => r.hash === createHash("sha256").update(t.token).digest("hex")));
    } finally {
      db.close();
    }

    assert.equal((await req("DELETE", `/v1/tokens/${t.id}`, bearer(orch.adminToken))).status, 200);
    const after = await req("GET", "/v1/episodes", bearer(t.token));
    assert.equal(after.status, 401);
    assert.match(((await after.json()) as { error: { message: string } }).error.message, /not valid/);
    assert.equal((await req("DELETE", `/v1/tokens/${t.id}`, bearer(orch.adminToken))).status, 404, "revoking twice");
    assert.equal((await req("POST", "/v1/tokens", bearer(orch.adminToken), JSON.stringify({ name: "" }))).status, 400);
  });

  test("the CLI finds the admin token in the data directory, or takes PODFLEET_TOKEN", async () => {
    const base = { PATH: process.env.PATH ?? "", HOME: tmp, PODFLEET_URL: orch.url };
    const created = await runCli(["tokens", "create", "laptop", "--json"], { ...base, PODFLEET_DATA_DIR: dataDir }, 60_000);
    assert.equal(created.code, 0, created.stderr);
    const t = JSON.parse(created.stdout) as { id: string; token: string };

    const listed = await runCli(["tokens", "list"], { ...base, PODFLEET_TOKEN: t.token, PODFLEET_DATA_DIR: path.join(tmp, "elsewhere") }, 60_000);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /laptop/);
    assert.ok(!listed.stdout.includes(t.token));

    const revoked = await runCli(["tokens", "revoke", t.id], { ...base, PODFLEET_DATA_DIR: dataDir }, 60_000);
    assert.equal(revoked.code, 0, revoked.stderr);
    const refused = await runCli(["jobs", "list"], { ...base, PODFLEET_TOKEN: t.token }, 60_000);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /not valid/);
    assert.ok(!refused.stderr.includes(t.token));
  });
});

describe("the data directory's admin token", () => {
  test("mode 600, reused by a restart, replaced after it is revoked", async () => {
    const file = path.join(dataDir, "admin-token");
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const first = orch.adminToken;
    assert.equal(fs.readFileSync(file, "utf8").trim(), first);

    await orch.close();
    orch = await startOrchestrator(config, createLogger("silent"));
    assert.equal(orch.adminToken, first, "a restart keeps the token");
    assert.equal((await req("GET", "/v1/episodes", bearer(first))).status, 200);

    const { tokens } = (await (await req("GET", "/v1/tokens", bearer(first))).json()) as { tokens: Array<{ id: string; name: string }> };
    const id = tokens.find((x) => x.name === "data-dir admin")!.id;
    assert.equal((await req("DELETE", `/v1/tokens/${id}`, bearer(first))).status, 200);
    await orch.close();
    orch = await startOrchestrator(config, createLogger("silent"));
    assert.notEqual(orch.adminToken, first);
    assert.equal(fs.readFileSync(file, "utf8").trim(), orch.adminToken);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal((await req("GET", "/v1/episodes", bearer(first))).status, 401);
    assert.equal((await req("GET", "/v1/episodes", bearer(orch.adminToken))).status, 200);
  });
});

describe("PODFLEET_ADMIN_TOKEN and NATS credentials settings", () => {
  test("an environment admin token is accepted, rotating it revokes the old value, and a revocation sticks", async () => {
    const db = await Database.open(`file:${path.join(tmp, "env-token.db")}`);
    try {
      const tokens = new TokenStore(db);
      const first = "a".repeat(40);
      const second = "b".repeat(40);
      assert.equal(await tokens.ensureEnvAdminToken(first), true);
      assert.ok(await tokens.verify(first));
      assert.equal(await tokens.ensureEnvAdminToken(first), true, "idempotent across restarts");
      assert.equal((await tokens.list()).length, 1);
      assert.equal(await tokens.ensureEnvAdminToken(second), true);
      assert.equal(await tokens.verify(first), undefined, "the previous value no longer works");
      const live = await tokens.verify(second);
      assert.ok(live);
      assert.equal(await tokens.revoke(live), true);
      assert.equal(await tokens.ensureEnvAdminToken(second), false, "a revoked value is not revived by a restart");
      assert.equal(await tokens.verify(second), undefined);
    } finally {
      db.close();
    }
  });

  test("bad credential settings are refused at startup with the variable's name", () => {
    assert.throws(() => parseConfig({ PODFLEET_ADMIN_TOKEN: "short" }), /invalid PODFLEET_ADMIN_TOKEN: must be at least 32/);
    assert.throws(() => parseConfig({ NATS_USER: "u" }), /invalid NATS_PASSWORD: NATS_USER and NATS_PASSWORD must be set together/);
    assert.throws(() => parseConfig({ NATS_URL: "nats://n:4222", PODFLEET_WORKER_NATS_PASSWORD: "p" }), /invalid PODFLEET_WORKER_NATS_USER/);
    assert.throws(() => parseConfig({ NATS_USER: "u", NATS_PASSWORD: "p", NATS_TOKEN: "t" }), /invalid NATS_TOKEN/);
    assert.throws(() => parseConfig({ PODFLEET_WORKER_NATS_USER: "w", PODFLEET_WORKER_NATS_PASSWORD: "p" }), /only with NATS_URL/);
    const ext = parseConfig({
      NATS_URL: "nats://n:4222",
      NATS_USER: "o",
      NATS_PASSWORD: "op",
      PODFLEET_WORKER_NATS_USER: "w",
      PODFLEET_WORKER_NATS_PASSWORD: "wp",
    });
    assert.deepEqual(ext.nats.auth, { user: "o", password: "op" });
    assert.deepEqual(ext.nats.workerAuth, { user: "w", password: "wp" });
    assert.deepEqual(parseConfig({ NATS_TOKEN: "tok" }).nats.auth, { token: "tok" });
  });

  test("the embedded orchestrator gives its machines the worker account, never its own password", () => {
    assert.ok("user" in orch.natsAuth.worker && "user" in orch.natsAuth.orchestrator);
    assert.notEqual(orch.natsAuth.worker.user, orch.natsAuth.orchestrator.user);
    const stored = JSON.parse(fs.readFileSync(path.join(dataDir, "nats-credentials.json"), "utf8")) as { workerPassword: string };
    assert.equal(orch.natsAuth.worker.password, stored.workerPassword);
    assert.equal(fs.statSync(path.join(dataDir, "nats-credentials.json")).mode & 0o777, 0o600);
  });
});

test("`podfleet nats permissions` prints the worker account for a prefix, and refuses a bad prefix", async () => {
  const ok = await runCli(["nats", "permissions", "--prefix", "acme"], {});
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /"\$JS\.API\.CONSUMER\.MSG\.NEXT\.ACME_JOBS\.acme-workers"/);
  assert.match(ok.stdout, /"_INBOX_acme-workers\.>"/);
  assert.doesNotMatch(ok.stdout, /acme\.jobs\.chunk/, "a worker may not publish jobs");
  const bad = await runCli(["nats", "permissions", "--prefix", "Nope!"], {});
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^podfleet: --prefix: NATS prefix/);
});

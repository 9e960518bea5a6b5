/**
 * Bad input gets a clear error and never hangs: garbage files fail their episode with a message
 * (through the real CLI), and malformed API requests get a 4xx JSON error naming the problem.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parseConfig } from "../orchestrator/config.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../orchestrator/orchestrator.ts";
import { errorLines, processesMentioning, runCli } from "./support/cli.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-bad-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("garbage files through podfleet transcribe", () => {
  for (const [name, content, expected] of [
    ["notes.txt", "These are my show notes, not audio.\n".repeat(50), /not an audio file/],
    ["empty.mp3", "", /empty \(0 bytes\)/],
    ["page.mp3", "<!doctype html><html><body>Not found</body></html>", /not an audio file/],
  ] as const) {
    test(`${name} fails with one clear line`, async () => {
      const file = path.join(tmp, name);
      fs.writeFileSync(file, content);
      const dataDir = path.join(tmp, `data-${name}`);
      const r = await runCli(
        ["transcribe", file, "--out", path.join(tmp, `out-${name}`)],
        { PODFLEET_DATA_DIR: dataDir, PODFLEET_MAX_MACHINES: "0" },
        60_000,
      );
      assert.equal(r.code, 1, `stderr: ${r.stderr}`);
      const lines = errorLines(r.stderr);
      assert.equal(lines.length, 1, `one error line on stderr, got: ${r.stderr}`);
      assert.match(lines[0]!, /^podfleet: episode ep_\w+ failed: /);
      assert.match(lines[0]!, expected);
      assert.doesNotMatch(lines[0]!, /\.upload\b/, "the server's temporary file is not named");
      assert.match(lines[0]!, new RegExp(`logs in ${dataDir}/logs`), "the error says where the logs are");
      assert.deepEqual(processesMentioning(dataDir), []);
    });
  }

  test("a missing file and a bad flag exit non-zero with one line", async () => {
    const missing = await runCli(["transcribe", path.join(tmp, "nope.mp3"), "--out", tmp], { PODFLEET_DATA_DIR: path.join(tmp, "d1") }, 30_000);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^podfleet: no such file: .*nope\.mp3\n$/);
    const flag = await runCli(["transcribe", "x.mp3", "--out", tmp, "--chunk-seconds", "soon"], { PODFLEET_DATA_DIR: path.join(tmp, "d2") }, 30_000);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^podfleet: --chunk-seconds must be a number/);
    const env = await runCli(["jobs", "list"], { PODFLEET_DATA_DIR: path.join(tmp, "d3"), PODFLEET_ACK_WAIT_SEC: "-5" }, 30_000);
    assert.equal(env.code, 1);
    assert.match(env.stderr, /^podfleet: invalid PODFLEET_ACK_WAIT_SEC: /);
  });
});

describe("malformed API requests", () => {
  let orch: Orchestrator;
  before(async () => {
    const config = parseConfig({ PODFLEET_MAX_MACHINES: "0", PODFLEET_NATS_PREFIX: "badinput" }, { dataDir: path.join(tmp, "api"), port: 0 });
    orch = await startOrchestrator(config, createLogger("silent"));
  });
  after(() => orch.close());

  const post = (body: string, contentType: string) =>
    fetch(`${orch.url}/v1/episodes`, { method: "POST", body, headers: { "content-type": contentType, authorization: `Bearer ${orch.adminToken}` } });

  for (const [label, body, type, status, code, message] of [
    ["malformed JSON", "{audioUrl:", "application/json", 400, "invalid_json", /not valid JSON/],
    ["missing audioUrl", "{}", "application/json", 400, "invalid_request", /^audioUrl: /],
    ["a non-http URL", JSON.stringify({ audioUrl: "file:///etc/passwd" }), "application/json", 400, "bad_url", /only http and https/],
    [
      "a loopback URL",
      JSON.stringify({ audioUrl: "http://127.0.0.1:9/a.mp3" }),
      "application/json",
      400,
      "private_address",
      /PODFLEET_ALLOW_PRIVATE_URLS/,
    ],
    ["a metadata address", JSON.stringify({ audioUrl: "http://169.254.169.254/latest" }), "application/json", 400, "private_address", /private/],
    ["an unsupported content type", "hello", "text/plain", 415, "unsupported_media_type", /audio/],
  ] as const) {
    test(`${label} → ${status} ${code}`, async () => {
      const res = await post(body, type);
      assert.equal(res.status, status);
      const json = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(json.error.code, code);
      assert.match(json.error.message, message);
    });
  }

  test("unknown episode and unknown route → 404 JSON; nothing was recorded by the bad requests", async () => {
    const headers = { authorization: `Bearer ${orch.adminToken}` };
    const res = await fetch(`${orch.url}/v1/episodes/ep_missing`, { headers });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "not_found");
    assert.equal((await fetch(`${orch.url}/v2/nothing`, { headers })).status, 404);
    assert.deepEqual(await orch.store.listEpisodes(), []);
  });
});

/**
 * The CLI and the orchestrator it talks to: read-only commands on a data directory with an
 * unfinished episode start nothing (no orchestrator, no machine) and read the database instead;
 * `transcribe` on a pipe prints plain progress lines, says which orchestrator it talks to, warns
 * about a PODFLEET_* variable the running orchestrator lacks, and ends when the episode is cancelled.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { parseConfig } from "../orchestrator/config.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../orchestrator/orchestrator.ts";
import { errorLines, processesMentioning, runCli } from "./support/cli.ts";
import { SHORT_TEXT } from "./support/corpus.ts";
import { synthesizeEpisode } from "./support/speech.ts";
import { until } from "./support/up-process.ts";

const BIN = new URL("../bin/podfleet.js", import.meta.url).pathname;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-cli-orch-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** An orchestrator with no machines at all: whatever is queued stays queued. */
async function idleOrchestrator(dataDir: string, prefix: string): Promise<Orchestrator> {
  const config = parseConfig({ PODFLEET_MAX_MACHINES: "0", PODFLEET_NATS_PREFIX: prefix }, { dataDir, port: 0, host: "127.0.0.1" });
  return startOrchestrator(config, createLogger("silent"));
}

async function episodeIn(orch: Orchestrator, status: string): Promise<string> {
  return until(
    `an episode ${status}`,
    async () => {
      const res = await fetch(`${orch.url}/v1/episodes`, { headers: { authorization: `Bearer ${orch.adminToken}` } });
      const { episodes } = (await res.json()) as { episodes: Array<{ id: string; status: string }> };
      return episodes.find((e) => e.status === status)?.id;
    },
    120_000,
    250,
  );
}

test("jobs list and jobs show on a data directory with an unfinished episode start no orchestrator and no machine", async (t) => {
  const dataDir = path.join(tmp, "readonly");
  const audio = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs, dir: tmp });
  const orch = await idleOrchestrator(dataDir, "clireadonly");
  let closed = false;
  t.after(async () => {
    if (!closed) await orch.close();
  });
  const res = await fetch(`${orch.url}/v1/episodes?chunkSeconds=10&title=unfinished`, {
    method: "POST",
    body: fs.readFileSync(audio.path),
    headers: { "content-type": "audio/wav", authorization: `Bearer ${orch.adminToken}` },
  });
  assert.equal(res.status, 202);
  const id = await episodeIn(orch, "transcribing");
  await orch.close();
  closed = true;
  const logs = path.join(dataDir, "logs");
  const before = fs.readdirSync(logs).sort();

  // the default machine cap: an embedded orchestrator would resume the episode and start machines for it
  const env = { PODFLEET_DATA_DIR: dataDir };
  const list = await runCli(["jobs", "list"], env, 120_000);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`${id}\\s+transcribing\\s+0/\\d+`));
  assert.match(list.stderr, /note: no orchestrator running on .*: reading its database directly/);
  const json = await runCli(["jobs", "list", "--status", "transcribing", "--limit", "1", "--json"], env, 120_000);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(
    (JSON.parse(json.stdout) as Array<{ id: string }>).map((e) => e.id),
    [id],
  );
  const show = await runCli(["jobs", "show", id], env, 120_000);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, /^CHUNK\s+SPAN\s+MACHINE\s+ATTEMPT\s+STATE\s+TIME\s+ERROR$/m);
  assert.match(show.stdout, /^0\s+0:00\.0-\S+\s+-\s+0\s+queued\s+-/m, "chunk 0 is queued, on no machine");

  assert.deepEqual(fs.readdirSync(logs).sort(), before, "no orchestrator or machine log was written");
  assert.equal(fs.existsSync(path.join(dataDir, "orchestrator.pid")), false, "nothing took the data directory");
  assert.deepEqual(processesMentioning(dataDir), [], "no process runs on the data directory");

  // a read-only command that needs a live orchestrator says none runs (exit 3) instead of starting one
  const fleet = await runCli(["fleet", "show"], env, 120_000);
  assert.equal(fleet.code, 3, fleet.stderr);
  assert.match(errorLines(fleet.stderr)[0]!, /^podfleet: no orchestrator is running on .*readonly \(start one with `podfleet up`/);
});

test("transcribe on a pipe: which orchestrator, a warning about a differing variable, plain progress lines, and the end when the episode is cancelled", async (t) => {
  const dataDir = path.join(tmp, "cancel");
  const audio = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs, dir: tmp });
  const orch = await idleOrchestrator(dataDir, "clicancel");
  const cli = spawn(process.execPath, [BIN, "transcribe", audio.path, "--out", path.join(tmp, "out"), "--chunk-seconds", "10"], {
    env: {
      PATH: process.env.PATH ?? "",
      HOME: tmp,
      PODFLEET_URL: orch.url,
      PODFLEET_TOKEN: orch.adminToken,
      PODFLEET_PROGRESS_INTERVAL_SEC: "0.5",
      PODFLEET_ALLOW_PRIVATE_URLS: "1",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  // the CLI first: a transcribe still polling would keep the orchestrator's server from closing
  t.after(async () => {
    if (cli.exitCode === null && cli.signalCode === null) cli.kill("SIGKILL");
    await orch.close();
  });
  let stderr = "";
  let stdout = "";
  cli.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  cli.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number | null>((r) => cli.on("close", r));

  // queued forever (no machines): a plain line every half second, not a silent wait
  await until(
    "three progress lines while queued",
    () =>
      (stderr.match(/^podfleet: progress: (queued|waiting) · 0\/\d+ chunks done, 0 running, \d+ queued/gm) ?? []).length >= 3 ? true : undefined,
    120_000,
    100,
  );
  const id = await episodeIn(orch, "transcribing");
  const del = await fetch(`${orch.url}/v1/episodes/${id}`, { method: "DELETE", headers: { authorization: `Bearer ${orch.adminToken}` } });
  assert.equal(del.status, 200);

  assert.equal(await exited, 1, stderr);
  assert.equal(stdout, "");
  assert.doesNotMatch(stderr, /\r/, "no carriage returns off a terminal");
  assert.match(stderr, new RegExp(`^podfleet: note: orchestrator ${orch.url} \\(data dir ${dataDir}\\) from PODFLEET_URL$`, "m"));
  assert.match(stderr, /^podfleet: warning: PODFLEET_ALLOW_PRIVATE_URLS=1 is set here, but the running orchestrator has it unset; /m);
  assert.match(stderr, /^podfleet: progress: uploading/m);
  assert.deepEqual(errorLines(stderr), [`podfleet: episode ${id} was cancelled (see podfleet jobs show ${id}; logs in ${dataDir}/logs)`]);

  // the other commands against the same orchestrator: JSON out, JSON errors from the API
  const cliEnv = { PODFLEET_URL: orch.url, PODFLEET_TOKEN: orch.adminToken };
  const events = await runCli(["fleet", "events", "--limit", "5", "--json"], cliEnv, 120_000);
  assert.equal(events.code, 0, events.stderr);
  assert.ok(Array.isArray(JSON.parse(events.stdout)));
  const gone = await runCli(["sources", "remove", "no-such-source", "--json"], cliEnv, 120_000);
  assert.equal(gone.code, 1, gone.stderr);
  assert.equal(gone.stdout, "");
  assert.equal((JSON.parse(gone.stderr) as { error: { code: string; httpStatus: number } }).error.httpStatus, 404);
  const created = await runCli(["tokens", "create", "ci", "--json"], cliEnv, 120_000);
  const token = JSON.parse(created.stdout) as { id: string };
  const revoked = await runCli(["tokens", "revoke", token.id, "--json"], cliEnv, 120_000);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.deepEqual(JSON.parse(revoked.stdout), { id: token.id, revoked: true });
});

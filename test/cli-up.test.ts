/**
 * `podfleet up` as an operator runs it: other CLI commands on the same data directory find it,
 * `machines list --json` shows local machines with their pid, and Ctrl-C (SIGINT) shuts the
 * whole embedded stack down, leaving no process behind.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { processesMentioning, runCli } from "./support/cli.ts";
import { SHORT_TEXT } from "./support/corpus.ts";
import { synthesizeEpisode } from "./support/speech.ts";
import { until } from "./support/until.ts";

const BIN = fileURLToPath(new URL("../bin/podfleet.js", import.meta.url));

test("podfleet up serves the CLI, shows machine pids, and stops cleanly on Ctrl-C", async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-up-"));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const dataDir = path.join(tmp, "data");
  const env = { PATH: process.env.PATH ?? "", HOME: tmp, PODFLEET_DATA_DIR: dataDir, PODFLEET_MAX_MACHINES: "1", PODFLEET_IDLE_TIMEOUT_SEC: "3" };
  const up = spawn(process.execPath, [BIN, "up", "--port", "0"], { env, stdio: ["ignore", "ignore", "pipe"] });
  let upStderr = "";
  up.stderr.on("data", (d: Buffer) => (upStderr += d.toString()));
  const exited = new Promise<number | null>((r) => up.on("close", (code) => r(code)));
  t.after(() => {
    if (up.exitCode === null) up.kill("SIGKILL");
  });

  const url = await until("the orchestrator URL file", () => {
    const f = path.join(dataDir, "orchestrator.url");
    return fs.existsSync(f) ? fs.readFileSync(f, "utf8") : undefined;
  });
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
  // the admin token is in the data directory, readable by its owner only; the CLI below finds it there
  const tokenFile = path.join(dataDir, "admin-token");
  assert.equal(fs.statSync(tokenFile).mode & 0o777, 0o600);
  const auth = { authorization: `Bearer ${fs.readFileSync(tokenFile, "utf8").trim()}` };

  const empty = await runCli(["jobs", "list", "--json"], env, 30_000);
  assert.equal(empty.code, 0, empty.stderr);
  assert.deepEqual(JSON.parse(empty.stdout), []);

  const audio = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs, dir: tmp });
  const res = await fetch(`${url}/v1/episodes?title=up-test`, {
    method: "POST",
    body: fs.readFileSync(audio.path),
    headers: { "content-type": "audio/wav", ...auth },
  });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };

  // While the chunk is being worked on, the local machine shows up with a live pid.
  const machine = await until("a machine with a pid", async () => {
    const r = await runCli(["machines", "list", "--json"], env, 30_000);
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as Array<{ id: string; state: string; pid?: number }>;
    return list.find((m) => typeof m.pid === "number");
  });
  assert.doesNotThrow(() => process.kill(machine.pid!, 0), "the pid is a live process");

  const done = await until(
    "the episode to finish",
    async () => {
      const r = await runCli(["jobs", "show", id, "--json"], env, 30_000);
      const view = JSON.parse(r.stdout) as { status: string };
      return view.status === "done" || view.status === "failed" ? view : undefined;
    },
    120_000,
  );
  assert.equal(done.status, "done");

  up.kill("SIGINT");
  assert.equal(await exited, 0, upStderr);
  assert.match(upStderr, /shutting down/);
  assert.deepEqual(processesMentioning(dataDir), [], "nothing of the stack outlives podfleet up");
  assert.equal(fs.existsSync(path.join(dataDir, "orchestrator.pid")), false, "the data directory lock is released");
});

test("Ctrl-C during podfleet transcribe stops the embedded stack and every worker process tree", async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-sigint-"));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const dataDir = path.join(tmp, "data");
  // Workers make their scratch dirs under TMPDIR, so the engine's command line names this test's dir.
  const scratch = path.join(tmp, "scratch");
  fs.mkdirSync(scratch);
  const audio = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs, dir: tmp });
  const env = { PATH: process.env.PATH ?? "", HOME: tmp, TMPDIR: scratch, PODFLEET_DATA_DIR: dataDir, PODFLEET_MAX_MACHINES: "2" };
  const cli = spawn(process.execPath, [BIN, "transcribe", audio.path, "--out", path.join(tmp, "out"), "--chunk-seconds", "0"], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  cli.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => cli.on("close", (code) => r(code)));
  t.after(() => {
    if (cli.exitCode === null) cli.kill("SIGKILL");
  });

  // Wait until a worker is decoding: its engine process runs on a file under the scratch dir.
  await until(
    "a worker's engine process",
    () => {
      const pids = processesMentioning(scratch);
      return pids.length > 0 ? pids : undefined;
    },
    90_000,
  );
  cli.kill("SIGINT");
  assert.equal(await exited, 130, stderr);
  assert.match(stderr, /SIGINT, stopping the embedded stack/);
  assert.deepEqual(processesMentioning(dataDir), [], "no nats-server or worker outlives the command");
  assert.deepEqual(processesMentioning(scratch), [], "no engine process is orphaned");
});

/**
 * The leak check (test/support/leak-check.ts, loaded into every test file by `npm test`) fails a
 * file that leaves a process or an open handle behind, names what was left, and kills the
 * processes; a file that stops what it started passes. Each fixture runs as its own node process.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const LEAK_CHECK = fileURLToPath(new URL("./support/leak-check.ts", import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/leaks/${name}`, import.meta.url));

/** Runs a fixture test file directly (not under `--test`) with the leak check loaded; a short quiet period. */
async function runUnderLeakCheck(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: Record<string, string | undefined> = { ...process.env, PODFLEET_LEAK_QUIET_MS: "500" };
  delete env.NODE_TEST_CONTEXT; // inherited from this file's runner; the fixture reports on its own
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "--import", LEAK_CHECK, file], { env, timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number") throw err;
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

/** True while the process exists and is not a zombie. */
function running(pid: number): boolean {
  try {
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

test("a file that leaves a server, a timer and a child process fails, naming each, and the process is killed", async () => {
  const { code, stderr } = await runUnderLeakCheck(fixture("leaves-handles.ts"));
  assert.equal(code, 1, stderr);
  assert.match(stderr, /leak check: .*leaves-handles\.ts left things running/);
  assert.match(stderr, /1 × TCPServerWrap/);
  assert.match(stderr, /server listening on \{"address":"127\.0\.0\.1"/);
  assert.match(stderr, /1 × Timeout/);
  const pid = Number(/process (\d+) \(parent \d+\): sleep 300/.exec(stderr)?.[1]);
  assert.ok(pid > 0, stderr);
  assert.equal(running(pid), false, "the leftover process was killed");
});

test("a file that leaves only a detached, unref'd process fails at exit", async () => {
  const { code, stderr } = await runUnderLeakCheck(fixture("leaves-detached-process.ts"));
  assert.equal(code, 1, stderr);
  const pid = Number(/process (\d+) \(parent \d+\): sleep 300/.exec(stderr)?.[1]);
  assert.ok(pid > 0, stderr);
  assert.equal(running(pid), false, "the leftover process was killed");
});

test("a file that stops everything it started passes", async () => {
  const { code, stdout, stderr } = await runUnderLeakCheck(fixture("cleans-up.ts"));
  assert.equal(code, 0, `${stdout}\n${stderr}`);
  assert.doesNotMatch(stderr, /leak check/);
});

/**
 * The data directory is its owner's alone and one orchestrator's at a time: after `podfleet up`
 * has run an episode on a fresh directory, every directory in it is 0700 and every file 0600
 * (libSQL, NATS store and credentials, logs, machine logs, uploads, worker bundle, tokens); a
 * directory an older version left readable is tightened, with one warning; the lock refuses a
 * second orchestrator but not a stranger's pid left in `orchestrator.pid`.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { DataDirLockedError, lockDataDir } from "../orchestrator/data-dir.ts";
import { processStartTime } from "../orchestrator/live-process.ts";
import { runCli } from "./support/cli.ts";
import { silentWav } from "./support/ingest-stack.ts";
import { killAllUsing, startUp, submitUpload, waitFinished, type UpProcess } from "./support/up-process.ts";

/** Every entry under `dir` whose mode is not 0700 (directories) or 0600 (files), as "path mode". */
function looseEntries(dir: string): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    const st = fs.lstatSync(p);
    const mode = st.mode & 0o777;
    if (st.isDirectory()) {
      if (mode !== 0o700) out.push(`${path.relative(dir, p) || "."}/ ${mode.toString(8)}`);
      for (const e of fs.readdirSync(p)) walk(path.join(p, e));
    } else if (!st.isSymbolicLink() && mode !== 0o600) {
      out.push(`${path.relative(dir, p)} ${mode.toString(8)}`);
    }
  };
  walk(dir);
  return out;
}

function listTree(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).sort();
}

/** A live process that is no orchestrator (a stand-in for a pid reused after a crash). */
function stranger(t: { after(fn: () => void): void }, stdio: ("ignore" | number)[] = ["ignore", "ignore", "ignore"]): ChildProcess {
  const child = spawn("sleep", ["300"], { stdio });
  t.after(() => void child.kill("SIGKILL"));
  assert.ok(child.pid);
  return child;
}

async function stop(up: UpProcess): Promise<void> {
  up.child.kill("SIGINT");
  assert.equal(await up.exited, 0, up.stderr());
}

const ENV = { PODFLEET_ENGINE: "synthetic", PODFLEET_SYNTHETIC_RTF: "0.05", PODFLEET_MAX_MACHINES: "1", PODFLEET_IDLE_TIMEOUT_SEC: "2" };

test(
  "a fresh data directory: after an episode, every directory is 0700 and every file 0600; a second up is refused",
  { timeout: 300_000 },
  async (t) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-modes-"));
    const dataDir = path.join(tmp, "data");
    t.after(() => {
      killAllUsing(dataDir);
      fs.rmSync(tmp, { recursive: true, force: true });
    });
    const up = await startUp(dataDir, ENV);
    const audio = path.join(tmp, "episode.wav");
    fs.writeFileSync(audio, silentWav(3));
    const id = await submitUpload(up.url, audio, 0);
    assert.equal((await waitFinished(up.url, id, 120_000)).status, "done");

    // a second orchestrator on the same directory is refused while the first runs
    const second = await runCli(["up", "--port", "0"], { PODFLEET_DATA_DIR: dataDir }, 60_000);
    assert.equal(second.code, 1);
    assert.match(second.stderr, new RegExp(`^podfleet: another podfleet orchestrator \\(pid ${up.child.pid}\\) is using `));

    const tree = listTree(dataDir);
    for (const expected of [
      "podfleet.db",
      "admin-token",
      "nats-credentials.json",
      "orchestrator.pid",
      "nats",
      "logs/machines",
      "uploads",
      "work",
      "worker/worker.mjs",
    ]) {
      assert.ok(tree.includes(expected), `${expected} is in the data directory: ${tree.join(", ")}`);
    }
    assert.ok(
      tree.some((p) => p.startsWith("logs/machines/") && p.endsWith(".log")),
      "a machine log was written",
    );
    assert.ok(
      tree.some((p) => p.startsWith("nats/jetstream/")),
      "the NATS store was written",
    );
    assert.deepEqual(looseEntries(dataDir), [], "nothing readable by other users");
    await stop(up);
    assert.deepEqual(looseEntries(dataDir), [], "nor after shutdown");
  },
);

test(
  "a data directory left readable is tightened with one warning, other files kept as they are, and a stranger's pid in the lock is taken over",
  { timeout: 180_000 },
  async (t) => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-loose-"));
    const dataDir = path.join(tmp, "data");
    t.after(() => {
      killAllUsing(dataDir);
      fs.rmSync(tmp, { recursive: true, force: true });
    });
    fs.mkdirSync(path.join(dataDir, "logs"), { recursive: true, mode: 0o755 });
    fs.chmodSync(dataDir, 0o755);
    fs.chmodSync(path.join(dataDir, "logs"), 0o755);
    fs.writeFileSync(path.join(dataDir, "logs", "old.log"), "from an older run\n", { mode: 0o644 });
    fs.writeFileSync(path.join(dataDir, "operator-notes.txt"), "mine\n", { mode: 0o644 });
    fs.writeFileSync(path.join(dataDir, "orchestrator.pid"), String(stranger(t).pid), { mode: 0o644 });

    const up = await startUp(dataDir, ENV);
    assert.equal(fs.statSync(dataDir).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(dataDir, "logs")).mode & 0o777, 0o700);
    assert.equal(fs.statSync(path.join(dataDir, "logs", "old.log")).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.join(dataDir, "operator-notes.txt")).mode & 0o777, 0o644, "not podfleet's: left alone");
    assert.match(
      fs.readFileSync(path.join(dataDir, "orchestrator.pid"), "utf8"),
      new RegExp(`^${up.child.pid} \\d+`),
      "the lock is the new orchestrator's",
    );
    await stop(up);
    const warnings = up
      .stderr()
      .split("\n")
      .filter((l) => l.includes("readable by other users"));
    assert.equal(warnings.length, 1, up.stderr());
    assert.match(warnings[0]!, /"entries":4/); // the directory, logs/, logs/old.log and the old lock file
  },
);

test("the lock: a stranger under the recorded pid, or a pid reused since, is taken over; a live holder refuses", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-lock-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const lockFile = path.join(dir, "orchestrator.pid");
  const boot = fs.readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  const other = stranger(t);
  const take = (content: string): void => {
    fs.writeFileSync(lockFile, content);
    const release = lockDataDir(dir);
    assert.match(fs.readFileSync(lockFile, "utf8"), new RegExp(`^${process.pid} ${processStartTime(process.pid)} ${boot}\\n$`));
    release();
    assert.equal(fs.existsSync(lockFile), false, "released");
  };
  take(`${other.pid}`); // pid-only (older version), a live process with nothing of the directory open
  take(`${other.pid} 1 ${boot}`); // the pid now names a process that started later than the lock's
  take(`${other.pid} ${processStartTime(other.pid!)} not-this-boot`); // written before a reboot
  take("999999999 1"); // no such process
  take("garbage");

  // held: the very process the lock names (pid and start time), or an older version's lock whose process has a file here open
  fs.writeFileSync(lockFile, `${other.pid} ${processStartTime(other.pid!)} ${boot}\n`);
  assert.throws(() => lockDataDir(dir), DataDirLockedError);
  const logFd = fs.openSync(path.join(dir, "old-orchestrator.log"), "a");
  const old = stranger(t, ["ignore", logFd, "ignore"]);
  fs.closeSync(logFd);
  fs.writeFileSync(lockFile, `${old.pid}\n`);
  assert.throws(
    () => lockDataDir(dir),
    (err: unknown) => err instanceof DataDirLockedError && err.message.includes(`pid ${old.pid}`),
  );
});

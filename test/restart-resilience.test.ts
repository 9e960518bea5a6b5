/**
 * Restart resilience, with real processes killed for real (`podfleet up` as a child process):
 * (a) the orchestrator SIGKILLed mid-episode and started again on the same data directory;
 * (b) the embedded nats-server SIGKILLed mid-episode (the supervisor restarts it on the same
 *     port and store).
 * In both the episode completes without operator action, its transcript is byte-identical to a
 * fault-free run of the same audio (pocketsphinx is deterministic), every chunk is done exactly
 * once in the view, and nothing of either run's stack is left running afterwards.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { SHORT_TEXT } from "./support/corpus.ts";
import { synthesizeEpisode } from "./support/speech.ts";
import {
  episodeStatus,
  killAllUsing,
  processesUsing,
  startUp,
  submitUpload,
  transcriptFiles,
  until,
  waitFinished,
  logTails,
  type EpisodeStatus,
} from "./support/up-process.ts";

const CHUNK_SECONDS = 5;
const ENV = {
  PODFLEET_MAX_MACHINES: "2",
  PODFLEET_IDLE_TIMEOUT_SEC: "3",
  PODFLEET_ACK_WAIT_SEC: "6",
  PODFLEET_AUTOSCALE_INTERVAL_MS: "500",
  PODFLEET_LOG_LEVEL: "info",
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-restart-"));
let audioPath: string;
let reference: { txt: string; json: string };
after(() => {
  killAllUsing(tmp);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Stops `podfleet up` with Ctrl-C and checks it exits 0. */
async function stopUp(up: Awaited<ReturnType<typeof startUp>>): Promise<void> {
  up.child.kill("SIGINT");
  assert.equal(await up.exited, 0, up.stderr());
}

async function assertNothingLeft(dataDir: string): Promise<void> {
  await until("every process of the stack to exit", () => (processesUsing(dataDir).length === 0 ? true : undefined), 45_000, 250);
}

function assertComplete(status: EpisodeStatus): void {
  assert.equal(status.status, "done", `episode failed: ${status.error}`);
  assert.equal(status.chunks.done, status.chunks.total);
  assert.equal(status.chunks.failed, 0);
}

before(async () => {
  const audio = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs, dir: tmp });
  audioPath = audio.path;
  const dataDir = path.join(tmp, "reference");
  const up = await startUp(dataDir, ENV);
  try {
    const id = await submitUpload(up.url, audioPath, CHUNK_SECONDS);
    const status = await waitFinished(up.url, id, 120_000);
    assertComplete(status);
    assert.ok(status.chunks.total >= 3, `want several chunks, got ${status.chunks.total}`);
    reference = await transcriptFiles(up.url, id);
    assert.ok(reference.txt.trim().length > 0);
  } finally {
    await stopUp(up);
  }
  await assertNothingLeft(dataDir);
});

test("orchestrator SIGKILLed mid-episode: a restart on the same data finishes it, identical transcript", { timeout: 240_000 }, async () => {
  const dataDir = path.join(tmp, "orch-kill");
  const first = await startUp(dataDir, ENV);
  const started = Date.now();
  const id = await submitUpload(first.url, audioPath, CHUNK_SECONDS);
  // mid-episode: chunks are queued and a worker has one (or has finished one), but not all are done
  const mid = await until(
    "the episode to be mid-transcription",
    async () => {
      const s = await episodeStatus(first.url, id);
      if (s?.status === "done") throw new Error("finished before the fault could be injected");
      return s?.status === "transcribing" && s.chunks.leased + s.chunks.done > 0 ? s : undefined;
    },
    90_000,
    50,
  );
  const firstRun = processesUsing(dataDir).filter((pid) => pid !== first.child.pid);
  first.child.kill("SIGKILL");
  await first.exited;
  const killedAt = Date.now();

  const second = await startUp(dataDir, ENV);
  try {
    // its nats-server and worker machines did not outlive it: the next start killed them, so no
    // machine runs unseen outside the fleet cap
    const survivors = firstRun.filter((pid) => processesUsing(dataDir).includes(pid));
    assert.deepEqual(survivors, [], `processes of the killed run still running (it had ${firstRun.length})`);
    const status = await waitFinished(second.url, id, 150_000, () => logTails(dataDir, second.stderr()));
    assertComplete(status);
    const files = await transcriptFiles(second.url, id);
    assert.equal(files.txt, reference.txt, "text transcript identical to the fault-free run");
    assert.equal(files.json, reference.json, "JSON transcript identical (no segment lost or repeated)");
    console.log(
      `# orchestrator kill: killed at ${killedAt - started} ms with ${mid.chunks.done}/${mid.chunks.total} done, ` +
        `recovered ${Date.now() - killedAt} ms after the kill`,
    );
  } finally {
    await stopUp(second);
  }
  await assertNothingLeft(dataDir);
});

test("nats-server SIGKILLed mid-episode: the episode completes, identical transcript", { timeout: 240_000 }, async () => {
  const dataDir = path.join(tmp, "nats-kill");
  const up = await startUp(dataDir, ENV);
  try {
    const started = Date.now();
    const id = await submitUpload(up.url, audioPath, CHUNK_SECONDS);
    const mid = await until(
      "the episode to be mid-transcription",
      async () => {
        const s = await episodeStatus(up.url, id);
        if (s?.status === "done") throw new Error("finished before the fault could be injected");
        return s?.status === "transcribing" && s.chunks.leased + s.chunks.done > 0 ? s : undefined;
      },
      90_000,
      50,
    );
    const pid = Number(fs.readFileSync(path.join(dataDir, "nats-server.pid"), "utf8"));
    process.kill(pid, "SIGKILL");
    const killedAt = Date.now();
    // the supervisor brings a new server up on the same port and store
    await until(
      "a new nats-server",
      () => {
        const now = Number(fs.readFileSync(path.join(dataDir, "nats-server.pid"), "utf8"));
        return now !== pid ? now : undefined;
      },
      30_000,
    );

    const status = await waitFinished(up.url, id, 150_000, () => logTails(dataDir, up.stderr()));
    assertComplete(status);
    const files = await transcriptFiles(up.url, id);
    assert.equal(files.txt, reference.txt, "text transcript identical to the fault-free run");
    assert.equal(files.json, reference.json, "JSON transcript identical (no segment lost or repeated)");
    console.log(
      `# nats kill: killed at ${killedAt - started} ms with ${mid.chunks.done}/${mid.chunks.total} done, ` +
        `recovered ${Date.now() - killedAt} ms after the kill`,
    );
  } finally {
    await stopUp(up);
  }
  await assertNothingLeft(dataDir);
});

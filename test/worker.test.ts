/**
 * The worker (machine-image/worker) against a real nats-server 2.9 and real pocketsphinx, on
 * speech synthesised with flite. Each test has its own server and NATS names.
 */
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { jetstream, jetstreamManager, type Consumer, type JetStreamClient } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ChunkEvent, ChunkTranscript, WorkerEvent, wireNames, type ChunkJob, type WireNames, type Word } from "../contract/wire.ts";
import { ensureWireResources, getObjectJson, publishChunkJob, putObject, type WireResources } from "../orchestrator/queue/jetstream.ts";
import type { SpeechEngine } from "../machine-image/worker/engine.ts";
import { PermanentChunkError, TransientChunkError } from "../machine-image/worker/errors.ts";
import { parsePocketsphinxOutput, PocketsphinxEngine } from "../machine-image/worker/pocketsphinx-engine.ts";
import { SyntheticEngine } from "../machine-image/worker/synthetic-engine.ts";
import { runWorker, type WorkerOptions, type WorkerResult } from "../machine-image/worker/worker.ts";
import { startTestNats, uniquePrefix, type CleanupContext } from "./support/nats.ts";
import { stopProcess } from "./support/stopped-process.ts";

const run = promisify(execFile);
const REPO = new URL("..", import.meta.url).pathname;
const SHORT_TEXT = "hello world this is a test of the podcast transcription farm";
const LONG_TEXT =
  "the quick brown fox jumps over the lazy dog while the podcast host reads the news about the weather " +
  "and the markets today we talk about science history music and the small things that make a long day " +
  "better thank you for listening to this show and please come back next week for another episode with our guests";

let fixtures: string;
let shortWav: Uint8Array;
let longWav: Uint8Array;

/** flite → 16 kHz mono WAV with ffmpeg, as the orchestrator would cut it. */
async function synthesize(dir: string, name: string, text: string): Promise<Uint8Array> {
  const raw = join(dir, `${name}-raw.wav`);
  const out = join(dir, `${name}.wav`);
  await run("flite", ["-voice", "rms", "-t", text, "-o", raw]);
  await run("ffmpeg", ["-loglevel", "error", "-y", "-i", raw, "-ar", "16000", "-ac", "1", out]);
  return await readFile(out);
}

before(async () => {
  fixtures = await mkdtemp(join(tmpdir(), "podfleet-worker-test-"));
  shortWav = await synthesize(fixtures, "short", SHORT_TEXT);
  longWav = await synthesize(fixtures, "long", LONG_TEXT);
});
after(async () => {
  await rm(fixtures, { recursive: true, force: true });
});

interface Fleet {
  readonly url: string;
  /** The nats-server process (for a test that stops it answering). */
  readonly pid: number;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly prefix: string;
  readonly names: WireNames;
  readonly buckets: WireResources;
  readonly events: Consumer;
  readonly workDir: string;
}

async function setupFleet(t: CleanupContext, opts: { ackWaitMs?: number; maxDeliver?: number } = {}): Promise<Fleet> {
  const { url, server } = await startTestNats(t);
  const nc = await connect({ servers: url });
  t.after(async () => {
    if (!nc.isClosed()) await nc.close();
  });
  const prefix = uniquePrefix();
  const names = wireNames(prefix);
  const buckets = await ensureWireResources(nc, names, { ackWaitMs: opts.ackWaitMs ?? 30_000, maxDeliver: opts.maxDeliver ?? 5 });
  const js = jetstream(nc);
  const events = await js.consumers.get(names.eventsStream, names.eventsConsumer);
  const workDir = await mkdtemp(join(tmpdir(), "podfleet-workdir-"));
  t.after(() => rm(workDir, { recursive: true, force: true }));
  return { url, pid: server.pid!, nc, js, prefix, names, buckets, events, workDir };
}

async function enqueue(f: Fleet, chunkId: string, wav: Uint8Array, generation = 1): Promise<ChunkJob> {
  const job: ChunkJob = {
    v: 1,
    episodeId: "ep1",
    chunkId,
    index: 0,
    startSample: 0,
    endSample: Math.max(1, Math.floor((wav.length - 44) / 2)),
    sampleRate: 16_000,
    audioObject: `ep1/${chunkId}.wav`,
    language: "en",
    ...(generation > 1 ? { generation } : {}),
  };
  await putObject(f.buckets.audio, job.audioObject, wav);
  await publishChunkJob(f.js, f.names, job);
  return job;
}

/** Starts a worker in the background; the test's cleanup stops it and waits for it. */
function startWorker(t: CleanupContext, f: Fleet, opts: Partial<WorkerOptions> = {}): { done: Promise<WorkerResult>; stop: AbortController } {
  const stop = new AbortController();
  const done = runWorker({
    nc: f.nc,
    names: f.names,
    engine: new PocketsphinxEngine(),
    machineId: "m-test",
    idleTimeoutMs: 1_500,
    workDir: f.workDir,
    signal: stop.signal,
    ...opts,
  });
  t.after(async () => {
    stop.abort();
    await done.catch(() => undefined);
  });
  return { done, stop };
}

/** Reads (and acks) the next `count` chunk events, waiting up to `timeoutMs` in all. */
async function takeEvents(f: Fleet, count: number, timeoutMs = 30_000): Promise<ChunkEvent[]> {
  const got: ChunkEvent[] = [];
  const deadline = Date.now() + timeoutMs;
  while (got.length < count) {
    const left = deadline - Date.now();
    assert.ok(left > 0, `timed out waiting for events; got ${JSON.stringify(got)}`);
    // a pull that meets a server that stopped answering ends in "heartbeats missed": pull again
    const m = await f.events.next({ expires: Math.max(1_000, Math.min(left, 5_000)) }).catch(() => null);
    if (!m) continue;
    got.push(ChunkEvent.parse(m.json()));
    m.ack();
  }
  return got;
}

/**
 * The two events of a chunk worked through a NATS outage: one attempt, claimed then its result, the
 * result recorded only once the server answered again (`resumed()` read when it arrives).
 */
async function oneAttemptAfterResume(f: Fleet, logged: readonly string[], resumed: () => boolean): Promise<ChunkEvent[]> {
  const events = await takeEvents(f, 2, 60_000);
  assert.deepEqual(
    events.map((e) => `${e.type}:${e.attempt}`),
    ["claimed:1", "result:1"],
    `one attempt, its result recorded (worker log: ${logged.join(", ")})`,
  );
  assert.ok(resumed(), "the result was recorded only once the server answered again");
  return events;
}

async function jobsLeft(f: Fleet): Promise<number> {
  const jsm = await jetstreamManager(f.nc);
  return (await jsm.streams.info(f.names.jobsStream)).state.messages;
}

function assertTimesIncrease(words: Word[]): void {
  for (let i = 1; i < words.length; i++) {
    const prev = words[i - 1]!;
    const cur = words[i]!;
    assert.ok(cur.start >= prev.end - 1e-9, `word ${i} starts before the previous one ends`);
    assert.ok(cur.end >= cur.start);
  }
}

test("pocketsphinx output parsing drops fillers, strips alternates and clamps confidence", () => {
  const out = [
    "hello to world",
    "<s> 0.000 0.110 1.000100",
    "hello 0.120 0.400 0.874139",
    "[NOISE] 0.41 0.5 0.2",
    "to(2) 0.500 0.600 1.2",
    "<sil> 0.61 0.7 0.9",
    "++BREATH++ 0.7 0.8 0.9",
    "world 0.810 1.170 -0.5",
    "</s> 1.180 1.380 1.000000",
  ].join("\n");
  assert.deepEqual(parsePocketsphinxOutput(out), [
    { text: "hello", start: 0.12, end: 0.4, confidence: 0.874139 },
    { text: "to", start: 0.5, end: 0.6, confidence: 1 },
    { text: "world", start: 0.81, end: 1.17, confidence: 0 },
  ]);
});

test("a published job is processed once: claimed then result, transcript stored, job gone", async (t) => {
  const f = await setupFleet(t);
  await enqueue(f, "c1", shortWav);
  // a result too big for its event goes to the results bucket (here: every result)
  const w = startWorker(t, f, { inlineResultMaxBytes: 0 });
  const [claimed, result] = await takeEvents(f, 2);
  assert.equal(claimed?.type, "claimed");
  assert.equal(claimed.attempt, 1);
  assert.equal(claimed.machineId, "m-test");
  assert.equal(result?.type, "result");
  assert.equal(result.attempt, 1);
  assert.match(result.resultObject ?? "", /^c1\/[A-Za-z0-9_-]{22}\/attempt-1\.json$/, "a fresh name no other worker can guess");
  assert.equal(result.words, undefined, "the words are in the object, not the event");
  assert.equal(result.engine, "pocketsphinx");

  const transcript = ChunkTranscript.parse(await getObjectJson(f.buckets.results, result.resultObject!));
  assert.equal(transcript.chunkId, "c1");
  assert.equal(transcript.words.length, result.wordCount);
  assert.ok(transcript.words.length >= 5, `too few words: ${JSON.stringify(transcript.words)}`);
  assertTimesIncrease(transcript.words);
  const text = transcript.words.map((w) => w.text).join(" ");
  assert.match(text, /hello|world|test|transcription/);

  const res = await w.done;
  assert.deepEqual(res, { processed: 1, failed: 0, reason: "idle" });
  assert.equal(await jobsLeft(f), 0);
  assert.deepEqual(await readdir(f.workDir), [], "temp audio removed");
});

test("a job published twice with the same generation is processed once", async (t) => {
  const f = await setupFleet(t);
  await enqueue(f, "dup", shortWav, 7);
  await enqueue(f, "dup", shortWav, 7);
  const w = startWorker(t, f);
  const res = await w.done;
  assert.equal(res.processed, 1);
  const events = await takeEvents(f, 2);
  assert.deepEqual(
    events.map((e) => e.type),
    ["claimed", "result"],
  );
  assert.equal(await f.events.next({ expires: 1_000 }), null, "no further events");
});

test("garbage, empty or missing audio fails permanently and the job is removed", async (t) => {
  const f = await setupFleet(t);
  const garbage = new Uint8Array(40_000).map(() => Math.floor(Math.random() * 256));
  await enqueue(f, "garbage", garbage);
  await enqueue(f, "empty", new Uint8Array(0));
  const missing: ChunkJob = {
    v: 1,
    episodeId: "ep1",
    chunkId: "missing",
    index: 2,
    startSample: 0,
    endSample: 10,
    sampleRate: 16_000,
    audioObject: "nope.wav",
    language: "en",
  };
  await publishChunkJob(f.js, f.names, missing);
  const w = startWorker(t, f, { idleTimeoutMs: 1_000 });
  const res = await w.done;
  assert.deepEqual(res, { processed: 0, failed: 3, reason: "idle" });
  const events = await takeEvents(f, 6);
  const failed = events.filter((e) => e.type === "failed");
  assert.deepEqual(
    failed.map((e) => e.chunkId),
    ["garbage", "empty", "missing"],
  );
  for (const e of failed) {
    assert.equal(e.permanent, true);
    assert.equal(e.code, "bad_audio");
    assert.equal(e.attempt, 1);
  }
  assert.equal(await jobsLeft(f), 0, "termed jobs are deleted from the WorkQueue stream");
});

test("an invalid job is recorded when it names its chunk, and termed either way", async (t) => {
  const f = await setupFleet(t);
  await f.js.publish(f.names.jobsSubject, "not json at all");
  await f.js.publish(f.names.jobsSubject, JSON.stringify({ v: 1, episodeId: "ep9", chunkId: "c9", index: -1 }));
  const w = startWorker(t, f, { idleTimeoutMs: 1_000 });
  assert.deepEqual(await w.done, { processed: 0, failed: 2, reason: "idle" });
  const [failed] = await takeEvents(f, 1);
  assert.ok(failed?.type === "failed");
  assert.equal(failed.chunkId, "c9");
  assert.equal(failed.permanent, true);
  assert.match(failed.message, /invalid job/);
  assert.equal(await f.events.next({ expires: 1_000 }), null);
  assert.equal(await jobsLeft(f), 0);
});

test("heartbeats keep a long chunk leased past ack_wait: no redelivery to a waiting worker", async (t) => {
  const f = await setupFleet(t, { ackWaitMs: 1_000 });
  await enqueue(f, "long", longWav);
  const a = startWorker(t, f, { machineId: "m-a", idleTimeoutMs: 1_000 });
  const [claimed] = await takeEvents(f, 1);
  assert.equal(claimed?.type, "claimed");
  // a second worker keeps a pull waiting: without heartbeats it would get the chunk after 1 s
  const b = startWorker(t, f, { machineId: "m-b", idleTimeoutMs: 120_000 });
  const resA = await a.done;
  b.stop.abort();
  assert.deepEqual(await b.done, { processed: 0, failed: 0, reason: "signal" });
  assert.equal(resA.processed, 1);
  const [result] = await takeEvents(f, 1, 5_000);
  assert.equal(result?.type, "result");
  assert.equal(result.attempt, 1);
  assert.equal(result.machineId, "m-a");
  assert.ok(result.processingMs > 2_000, `chunk took ${result.processingMs} ms: too short to prove heartbeats (ack_wait 1 s)`);
  const jsm = await jetstreamManager(f.nc);
  const info = await jsm.consumers.info(f.names.jobsStream, f.names.jobsConsumer);
  assert.equal(info.num_redelivered, 0);
  assert.equal(info.delivered.consumer_seq, 1, "delivered exactly once");
  assert.equal(await f.events.next({ expires: 1_000 }), null, "no second claim");
});

test("an idle worker exits with reason idle; max lifetime ends it with reason lifetime", async (t) => {
  const f = await setupFleet(t);
  const started = Date.now();
  const idle = await startWorker(t, f, { idleTimeoutMs: 1_200 }).done;
  const took = Date.now() - started;
  assert.deepEqual(idle, { processed: 0, failed: 0, reason: "idle" });
  assert.ok(took >= 1_200 && took < 8_000, `idle exit took ${took} ms`);
  const aged = await startWorker(t, f, { idleTimeoutMs: 60_000, maxLifetimeMs: 1_000 }).done;
  assert.equal(aged.reason, "lifetime");
});

test("a stop during a chunk that finishes within the stop timeout still completes it", async (t) => {
  const f = await setupFleet(t);
  await enqueue(f, "finish", shortWav);
  const w = startWorker(t, f, { stopTimeoutMs: 60_000 });
  const [claimed] = await takeEvents(f, 1);
  assert.equal(claimed?.type, "claimed");
  w.stop.abort();
  assert.deepEqual(await w.done, { processed: 1, failed: 0, reason: "signal" });
  const [result] = await takeEvents(f, 1);
  assert.equal(result?.type, "result");
  assert.equal(await jobsLeft(f), 0);
});

test("a stop past the stop timeout hands the chunk back and another worker completes it", async (t) => {
  const f = await setupFleet(t, { ackWaitMs: 60_000 });
  await enqueue(f, "handback", shortWav);
  const a = startWorker(t, f, { machineId: "m-a", stopTimeoutMs: 100 });
  const [claimed] = await takeEvents(f, 1);
  assert.equal(claimed?.type, "claimed");
  a.stop.abort();
  assert.deepEqual(await a.done, { processed: 0, failed: 1, reason: "signal" });
  const [handedBack] = await takeEvents(f, 1);
  assert.equal(handedBack?.type, "failed");
  assert.equal(handedBack.permanent, false);
  assert.equal(handedBack.code, "transient");
  assert.equal(handedBack.machineId, "m-a");

  const started = Date.now();
  const b = startWorker(t, f, { machineId: "m-b", idleTimeoutMs: 1_000 });
  const [claimed2, result2] = await takeEvents(f, 2);
  // ack_wait is 60 s: only an immediate nak explains a second claim this soon
  assert.ok(Date.now() - started < 20_000);
  assert.equal(claimed2?.type, "claimed");
  assert.equal(claimed2.attempt, 2);
  assert.equal(claimed2.machineId, "m-b");
  assert.equal(result2?.type, "result");
  assert.equal(result2.attempt, 2);
  assert.equal((await b.done).processed, 1);
  assert.equal(await jobsLeft(f), 0);
  assert.deepEqual(await readdir(f.workDir), []);
});

test("a transient engine error naks with backoff and the retry succeeds", async (t) => {
  const f = await setupFleet(t);
  await enqueue(f, "flaky", shortWav);
  const real = new PocketsphinxEngine();
  let calls = 0;
  const flaky: SpeechEngine = {
    name: "flaky-pocketsphinx",
    async transcribe(path, opts) {
      calls += 1;
      if (calls === 1) throw new TransientChunkError("simulated overload");
      return await real.transcribe(path, opts);
    },
  };
  const delays: number[] = [];
  const w = startWorker(t, f, {
    engine: flaky,
    nakDelayMs: (n) => {
      delays.push(n);
      return 200;
    },
  });
  const events = await takeEvents(f, 4);
  assert.deepEqual(
    events.map((e) => `${e.type}:${e.attempt}`),
    ["claimed:1", "failed:1", "claimed:2", "result:2"],
  );
  const failed = events[1];
  assert.ok(failed?.type === "failed" && !failed.permanent && failed.message.includes("simulated overload"));
  assert.deepEqual(delays, [1]);
  assert.deepEqual(await w.done, { processed: 1, failed: 1, reason: "idle" });
});

test("a result finished while NATS stopped answering is recorded once NATS is back: no failed attempt, nothing stored twice", async (t) => {
  // once with the words in the event (the event publish is retried), once through the results bucket (each piece is)
  for (const inlineResultMaxBytes of [64 * 1024, 0]) {
    const f = await setupFleet(t);
    const chunkId = `outage-${inlineResultMaxBytes}`;
    await enqueue(f, chunkId, shortWav);
    const real = new SyntheticEngine({ realTimeFactor: 0 });
    let resumed = false;
    t.after(() => {
      if (!resumed) process.kill(f.pid, "SIGCONT");
    });
    // the server stops answering as the words come back, for longer than a publish waits for its ack (5 s);
    // stopped for certain before they are returned (a SIGSTOP takes effect a moment after kill(): see stopProcess)
    const pausing: SpeechEngine = {
      name: "synthetic",
      async transcribe(path, opts) {
        const words = await real.transcribe(path, opts);
        stopProcess(f.pid);
        setTimeout(() => {
          resumed = true;
          process.kill(f.pid, "SIGCONT");
        }, 7_000).unref();
        return words;
      },
    };
    const logged: string[] = [];
    const w = startWorker(t, f, { engine: pausing, inlineResultMaxBytes, log: (event) => logged.push(event) });
    const events = await oneAttemptAfterResume(f, logged, () => resumed);
    if (inlineResultMaxBytes > 0)
      assert.ok(logged.includes("event.publish_retry"), `the result's publish timed out and was retried: ${logged.join(", ")}`);
    assert.deepEqual(await w.done, { processed: 1, failed: 0, reason: "idle" });
    const result = events[1]!;
    assert.ok(result.type === "result");
    if (inlineResultMaxBytes === 0) {
      const transcript = ChunkTranscript.parse(await getObjectJson(f.buckets.results, result.resultObject!));
      assert.deepEqual(
        transcript.words.map((x) => x.text),
        ["synthetic"],
        "the object reads back whole",
      );
    } else {
      assert.equal(result.words?.[0]?.text, "synthetic");
    }
  }
});

test("a chunk's audio read from the bucket while NATS stops answering (a cluster node lost) waits it out: one attempt, no failure", async (t) => {
  const f = await setupFleet(t);
  await enqueue(f, "audio-outage", shortWav);
  let resumed = false;
  t.after(() => {
    if (!resumed) process.kill(f.pid, "SIGCONT");
  });
  // claimed, then the server stops (for certain, see stopProcess) before the audio is read, for
  // longer than the client's default request timeout (5 s)
  const onClaim = (): void => {
    stopProcess(f.pid);
    setTimeout(() => {
      resumed = true;
      process.kill(f.pid, "SIGCONT");
    }, 7_000).unref();
  };
  const logged: string[] = [];
  const w = startWorker(t, f, { engine: new SyntheticEngine({ realTimeFactor: 0 }), onClaim, log: (event) => logged.push(event) });
  await oneAttemptAfterResume(f, logged, () => resumed);
  assert.ok(logged.includes("audio.read_retry"), `the audio read met the outage and was retried: ${logged.join(", ")}`);
  assert.deepEqual(await w.done, { processed: 1, failed: 0, reason: "idle" });
});

test("a permanent engine error is recorded before term", async (t) => {
  const f = await setupFleet(t);
  await enqueue(f, "refused", shortWav);
  const refusing: SpeechEngine = {
    name: "refusing",
    transcribe: () => Promise.reject(new PermanentChunkError("engine_error", "model rejects this audio")),
  };
  const w = startWorker(t, f, { engine: refusing, idleTimeoutMs: 1_000 });
  assert.deepEqual(await w.done, { processed: 0, failed: 1, reason: "idle" });
  const [, failed] = await takeEvents(f, 2);
  assert.ok(failed?.type === "failed");
  assert.equal(failed.code, "engine_error");
  assert.equal(failed.permanent, true);
  assert.equal(await jobsLeft(f), 0);
});

/** Runs main.ts as a machine would; resolves with its exit code and output. */
async function runMain(
  t: CleanupContext,
  env: Record<string, string>,
  onStdout?: (text: string, child: ChildProcess) => void,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^(NATS_|PODFLEET_|ENGINE$|FLY_)/.test(k)) base[k] = v;
  }
  const child = spawn(process.execPath, ["--import", "tsx", "machine-image/worker/main.ts"], {
    cwd: REPO,
    env: { ...base, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => {
    stdout += b.toString();
    onStdout?.(stdout, child);
  });
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const [code] = (await once(child, "close")) as [number | null];
  return { code, stdout, stderr };
}

test("main.ts exits 2 with one line naming a bad or missing variable", async (t) => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{}, /NATS_URL: is required/],
    [{ NATS_URL: "nats://127.0.0.1:4222", PODFLEET_IDLE_TIMEOUT_SEC: "soon" }, /PODFLEET_IDLE_TIMEOUT_SEC/],
    [{ NATS_URL: "nats://127.0.0.1:4222", PODFLEET_MAX_LIFETIME_SEC: "0" }, /PODFLEET_MAX_LIFETIME_SEC/],
    [{ NATS_URL: "nats://127.0.0.1:4222", PODFLEET_NATS_PREFIX: "Bad Prefix" }, /PODFLEET_NATS_PREFIX/],
    [{ NATS_URL: "nats://127.0.0.1:4222", ENGINE: "vosk" }, /ENGINE: engine vosk is not implemented/],
  ];
  await Promise.all(
    cases.map(async ([env, pattern]) => {
      const { code, stderr, stdout } = await runMain(t, env);
      assert.equal(code, 2, `env ${JSON.stringify(env)}: ${stderr}`);
      assert.match(stderr, pattern);
      assert.equal(stderr.trim().split("\n").length, 1, `one line: ${stderr}`);
      assert.equal(stdout, "");
    }),
  );
});

test("main.ts processes a job, logs JSON lines and exits 0 when idle", async (t) => {
  const f = await setupFleet(t);
  await enqueue(f, "via-main", shortWav);
  const { code, stdout, stderr } = await runMain(t, {
    NATS_URL: f.url,
    PODFLEET_NATS_PREFIX: f.prefix,
    PODFLEET_IDLE_TIMEOUT_SEC: "1",
    FLY_MACHINE_ID: "m-main",
  });
  assert.equal(code, 0, stderr);
  const lines = stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { event: string });
  const kinds = lines.map((l) => l.event);
  for (const k of ["worker.started", "chunk.claimed", "chunk.done", "worker.exit", "worker.stopped"]) assert.ok(kinds.includes(k), k);
  const [claimed, result] = await takeEvents(f, 2);
  assert.equal(claimed?.machineId, "m-main");
  assert.equal(result?.type, "result");
});

test("main.ts exits 0 promptly on SIGTERM while idle", async (t) => {
  const f = await setupFleet(t);
  let stopAt = 0;
  const env = { NATS_URL: f.url, PODFLEET_NATS_PREFIX: f.prefix, PODFLEET_IDLE_TIMEOUT_SEC: "600" };
  const { code, stdout } = await runMain(t, env, (text, child) => {
    if (stopAt === 0 && text.includes("worker.started")) {
      stopAt = Date.now();
      child.kill("SIGTERM");
    }
  });
  assert.equal(code, 0);
  assert.ok(stopAt > 0, "worker never started");
  assert.ok(Date.now() - stopAt < 8_000, "stop took too long");
  assert.match(stdout, /"reason":"signal"/);
});

test("a worker that cannot start says why on the events stream (boot_failed), then exits 3; a bad configuration, exit 2", async (t) => {
  const f = await setupFleet(t);
  await enqueue(f, "never-claimed", shortWav);
  const missing = join(f.workDir, "models", "ggml-base.en.bin");
  const engine = await runMain(t, {
    NATS_URL: f.url,
    PODFLEET_NATS_PREFIX: f.prefix,
    ENGINE: "whisper",
    WHISPER_MODEL: missing,
    FLY_MACHINE_ID: "m-noboot",
  });
  assert.equal(engine.code, 3, engine.stderr);
  const config = await runMain(t, {
    NATS_URL: f.url,
    PODFLEET_NATS_PREFIX: f.prefix,
    PODFLEET_IDLE_TIMEOUT_SEC: "soon",
    FLY_MACHINE_ID: "m-badconfig",
  });
  assert.equal(config.code, 2, config.stderr);

  const got: WorkerEvent[] = [];
  while (got.length < 2) {
    const m = await f.events.next({ expires: 5_000 });
    assert.ok(m, `no boot_failed event; got ${JSON.stringify(got)}`);
    got.push(WorkerEvent.parse(m.json()));
    m.ack();
  }
  const [noModel, badConfig] = got;
  assert.ok(noModel?.type === "boot_failed", JSON.stringify(noModel));
  assert.equal(noModel.machineId, "m-noboot");
  assert.equal(noModel.exitCode, 3);
  assert.equal(noModel.reason, `whisper model ${missing} not found: run \`podfleet models pull NAME\` or set WHISPER_MODEL`);
  assert.ok(badConfig?.type === "boot_failed", JSON.stringify(badConfig));
  assert.equal(badConfig.machineId, "m-badconfig");
  assert.equal(badConfig.exitCode, 2);
  assert.match(badConfig.reason, /PODFLEET_IDLE_TIMEOUT_SEC/);
  assert.equal(await jobsLeft(f), 1, "the job was never taken");
});

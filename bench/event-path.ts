/**
 * `npm run bench:event-path [-- EPISODES] [--attempt-log] [--legacy-audio] [--chunk-seconds=S]`: the orchestrator's CPU
 * per chunk while draining, with nothing else in the process (`--attempt-log`: also the dashboard's
 * chunk attempt log following the transitions, as every orchestrator that serves HTTP runs it).
 * EPISODES hour-long episodes (60 chunks of 60 s each, default 10; `--chunk-seconds=30`: 120 of 30 s,
 * the default chunk length, each with half the words) are planned in a real libSQL
 * store, each with its decoded PCM kept as streaming ingest keeps it (`--legacy-audio`: none, as
 * for an episode ingested before jobs carried audio, whose purge deletes each chunk's object); for every chunk a `claimed` and a `result` event (150 words
 * inside it, a minute of speech) are published to the events stream of a real nats-server
 * beforehand; then the orchestrator's consumer (consumeChunkEvents → applyChunkEvents: batched
 * transactions, finishing, stitching, four transcript files, one purge per episode) drains them.
 * CPU = process.cpuUsage() from the consumer's start to the last episode done, per chunk and per
 * minute of audio (the same figure for 60 s chunks; at 30 s an audio minute is two chunks) (its
 * system part printed too, and its split by thread: the event loop, V8's worker threads that
 * compile hot code and help the GC, libuv's pool); the nats-server's CPU in the same span is printed apart. Timings depend on the machine and its load.
 * `transcripts_sha256` digests every transcript file the drain stored (read back after the measured
 * span): two versions of the orchestrator that render the same bytes print the same digest.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { eventMessageId, eventSubject, wireNames, type ChunkEvent, type Word } from "../contract/wire.ts";
import { ChunkAttemptLog } from "../orchestrator/dashboard/chunk-attempt-log.ts";
import { applyChunkEvents } from "../orchestrator/episodes/chunk-events.ts";
import { transcriptObject } from "../orchestrator/episodes/finish-episode.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startNatsServer } from "../orchestrator/queue/nats-server.ts";
import { consumeChunkEvents, NatsWorkQueue } from "../orchestrator/queue/nats-work-queue.ts";
import { Database } from "../orchestrator/store/database.ts";
import { chunkId, EpisodeStore } from "../orchestrator/store/episode-store.ts";
import { TRANSCRIPT_FORMATS, type TranscriptFormat } from "../orchestrator/transcript/formats.ts";
import { round } from "./bench-stack.ts";
import { processCpuMs, selfCpuMs, threadCpuMs } from "./process-cpu.ts";

const args = process.argv.slice(2);
const EPISODES = Number(args.find((a) => !a.startsWith("--")) ?? 10);
const ATTEMPT_LOG = args.includes("--attempt-log");
/** `--legacy-audio`: episodes without kept audio (ingested before jobs carried it), purged by deleting each chunk's object. */
const LEGACY_AUDIO = args.includes("--legacy-audio");
/** `--chunk-seconds=S`: chunk length (a divisor of 3,600; default 60). */
const CHUNK_SECONDS = Number(args.find((a) => a.startsWith("--chunk-seconds="))?.slice("--chunk-seconds=".length) ?? 60);
if (!Number.isInteger(CHUNK_SECONDS) || CHUNK_SECONDS <= 0 || 3600 % CHUNK_SECONDS !== 0) {
  throw new Error(`--chunk-seconds must divide 3600, got ${CHUNK_SECONDS}`);
}
const CHUNKS = 3600 / CHUNK_SECONDS;
const SPAN = CHUNK_SECONDS * 16_000;
/** Words per chunk: 150 a minute, one every 0.4 s. */
const WORDS = Math.floor(CHUNK_SECONDS / 0.4);

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-event-path-"));
  const server = await startNatsServer({ storeDir: path.join(dir, "nats") });
  const nc = await connect({ servers: server.url });
  const db = await Database.open(`file:${path.join(dir, "t.db")}`);
  const stop = new AbortController();
  try {
    const names = wireNames("evbench");
    const queue = await NatsWorkQueue.open(nc, names, { ackWaitMs: 30_000, maxDeliver: 5, audioDir: path.join(dir, "audio") });
    const store = new EpisodeStore(db);
    const js = jetstream(nc);
    const words: Word[] = Array.from({ length: WORDS }, (_, i) => ({ text: `word${i}`, start: i * 0.4, end: i * 0.4 + 0.3, confidence: 0.9 }));
    const ids: string[] = [];
    for (let e = 0; e < EPISODES; e++) {
      const id = `ep_bench${e}`;
      ids.push(id);
      await store.createEpisode({
        id,
        title: null,
        sourceKind: "upload",
        sourceUrl: null,
        uploadPath: null,
        chunkSeconds: CHUNK_SECONDS,
        language: "en",
      });
      await store.transitionEpisode(id, "ingesting");
      await store.recordPlan(
        id,
        Array.from({ length: CHUNKS }, (_, i) => ({ index: i, startSample: i * SPAN, endSample: (i + 1) * SPAN, reason: "bench" })),
        { durationSec: CHUNKS * CHUNK_SECONDS, sampleCount: CHUNKS * SPAN },
      );
      if (!LEGACY_AUDIO) keepPcm(queue.episodeAudioPath(id)!, CHUNKS * SPAN * 2);
      for (let i = 0; i < CHUNKS; i++) {
        const base = { v: 1 as const, episodeId: id, chunkId: chunkId(id, i), attempt: 1, machineId: `m${i % 32}`, at: Date.now() };
        const evs: ChunkEvent[] = [
          { ...base, type: "claimed", heartbeatMs: 10_000 },
          { ...base, type: "result", words, wordCount: words.length, engine: "synthetic", processingMs: 6000 },
        ];
        for (const ev of evs) await js.publish(eventSubject(names, ev), JSON.stringify(ev), { msgID: eventMessageId(ev) });
      }
    }
    const log = createLogger("silent");
    const unfollow = ATTEMPT_LOG ? new ChunkAttemptLog(db, log).follow(db.events) : () => {};
    const deps = { store, queue, log, maxAttempts: 3 };
    // the drain ends when every episode has reached a final state (the store's own events: no polling in the measured span)
    let open = EPISODES;
    const drained = new Promise<void>((resolve) => {
      const off = db.events.on("episode:transition", (e) => {
        if (e.to === "done" || e.to === "failed" || e.to === "cancelled") open -= 1;
        if (open === 0) {
          off();
          resolve();
        }
      });
    });
    const threads0 = threadCpuMs();
    const cpu0 = selfCpuMs();
    const sys0 = process.cpuUsage().system;
    const nats0 = processCpuMs(server.pid!);
    const t0 = performance.now();
    const loop = consumeChunkEvents(
      nc,
      names,
      (batch) =>
        applyChunkEvents(
          batch.filter((e): e is ChunkEvent => e.type !== "boot_failed"),
          deps,
        ),
      { signal: stop.signal, log },
    );
    await drained;
    const cpu = selfCpuMs() - cpu0;
    const threads1 = threadCpuMs();
    const sys = (process.cpuUsage().system - sys0) / 1000;
    const nats = processCpuMs(server.pid!) - nats0;
    const wall = performance.now() - t0;
    stop.abort();
    await loop;
    unfollow();
    const done = (await store.listEpisodes(EPISODES + 1)).filter((e) => e.status === "done").length;
    const digest = createHash("sha256");
    for (const id of ids) {
      for (const format of Object.keys(TRANSCRIPT_FORMATS) as TranscriptFormat[]) {
        const bytes = await queue.getTranscriptFile(transcriptObject(id, format));
        if (bytes === null) throw new Error(`episode ${id} has no ${format} transcript`);
        digest.update(`${id}.${format}:${bytes.length}:`).update(bytes);
      }
    }
    const chunks = EPISODES * CHUNKS;
    process.stdout.write(
      `${JSON.stringify({
        episodes: EPISODES,
        attempt_log: ATTEMPT_LOG,
        kept_audio: LEGACY_AUDIO ? "none (legacy: a delete per chunk)" : "pcm",
        chunk_seconds: CHUNK_SECONDS,
        chunks,
        episodes_done: done,
        drain_wall_s: round(wall / 1000, 2),
        orchestrator_cpu_ms_per_chunk: round(cpu / chunks, 3),
        orchestrator_cpu_ms_per_audio_minute: round(cpu / (EPISODES * 60), 3),
        // of which the kernel's (socket and file I/O, the PCM's removal)
        orchestrator_system_cpu_ms_per_chunk: round(sys / chunks, 3),
        // by thread (10 ms resolution each): the event loop, V8's compiler and GC helper threads, libuv's pool
        orchestrator_thread_cpu_ms_per_chunk: Object.fromEntries(
          Object.entries(threads1).map(([kind, ms]) => [kind, round((ms - threads0[kind as keyof typeof threads0]) / chunks, 3)]),
        ),
        nats_server_cpu_ms_per_chunk: round(nats / chunks, 3),
        load: os.loadavg().map((l) => round(l, 2)),
        transcripts_sha256: digest.digest("hex").slice(0, 16),
      })}\n`,
    );
  } finally {
    stop.abort();
    db.close();
    await nc.close();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The episode's decoded PCM where streaming ingest appends it (16 kHz s16le, 115 MB an hour), so the
 * finish purges it as it purges a real episode's: real pages of the page cache, not a sparse file.
 */
function keepPcm(file: string, bytes: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const block = Buffer.alloc(1024 * 1024);
  const fd = fs.openSync(file, "w");
  try {
    for (let at = 0; at < bytes; at += block.length) fs.writeSync(fd, block, 0, Math.min(block.length, bytes - at));
  } finally {
    fs.closeSync(fd);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:event-path: ${String(err)}\n`);
    process.exit(1);
  },
);

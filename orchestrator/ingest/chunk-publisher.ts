/**
 * The output end of streaming ingest: decoded PCM goes in and is appended to the episode's kept PCM
 * (queue/chunk-jobs.ts keeps it until the episode ends, so re-publishes and retries read their
 * audio there), in writes of about 1 MiB and always before a chunk is recorded; every chunk the
 * ChunkStream hands out is then recorded (one row and one plan
 * entry, in one commit) and its job published through the chunk-jobs module with its WAV inline,
 * in that order and at once. The order is what makes a crash safe: a recorded chunk has its audio
 * kept (in the kept PCM, or, with an external NATS, its WAV kept through `keepChunkAudio` just
 * before it is recorded), and a recorded chunk whose job never went out is published again at
 * the next start (EpisodeService.republishUnclaimed), by whichever orchestrator resumes it.
 *
 * A publisher opened on an episode whose plan already holds chunks (a crash, or a download that
 * failed mid-way) resumes after the last one: the planner starts at that chunk's core end, so the
 * chunks published before are neither redone nor changed, and the PCM already kept is not
 * written again (only what lies past its end is appended).
 *
 * The cutting does not wait for the publishing: the decoded audio keeps flowing while the chunks
 * cut so far are kept, recorded and published one after another behind it (up to
 * PUBLISH_AHEAD chunks; then the decode waits), so ffmpeg is not held up by each chunk's commit and
 * JetStream ack. Every file write and publish runs in that one queue, in order, so the order above
 * holds; the first that fails stops the queue and its error is what the next push, or `end`,
 * throws.
 *
 * Keeping a chunk's WAV in NATS and publishing its job, when they meet a NATS outage (the server
 * restarted by its supervisor, a cluster node lost and its streams electing new leaders), are tried
 * again until NATS answers (contract/nats-retry.ts): the ingest waits the outage out instead of
 * failing an episode that did nothing wrong. Repeating is safe: a kept WAV replaces its copy, and
 * the job's message id makes JetStream drop a second copy.
 */
import fs from "node:fs";
import path from "node:path";
import type { WorkQueue } from "../episodes/work-queue.ts";
import type { Logger } from "../log.ts";
import { retryThroughNatsOutage } from "../../contract/nats-retry.ts";
import type { EpisodeRow, EpisodeStore, PlannedChunk } from "../store/episode-store.ts";
import type { HeldClaim } from "../cluster/work-claims.ts";
import { DEFAULT_CHUNK_PAD, type SidePadding } from "./chunk-context.ts";
import type { PlanResume } from "./chunk-plan.ts";
import { ChunkStream, type ReadyChunk } from "./chunk-stream.ts";

export interface PublisherDeps {
  store: EpisodeStore;
  queue: WorkQueue;
  /** Called after each job is published (wakes the autoscaler). */
  onPublished?: (() => void) | undefined;
  /** Context padding before and after each core, seconds (one number: both sides); default DEFAULT_CHUNK_PAD. */
  padSec?: number | SidePadding | undefined;
  /** Where a publish retried through a NATS outage is reported. */
  log?: Logger | undefined;
  /**
   * The ingest claim this run holds (cluster/work-claims.ts): each chunk is recorded only while the
   * database still names us its holder, in the record's own transaction (ClaimLostError otherwise),
   * and a claim already known lost stops the run before it keeps any audio.
   */
  claim?: HeldClaim | undefined;
}

/** Where the plan recorded for `row` leaves off (index 0, sample 0 when none). */
export function resumePoint(row: Pick<EpisodeRow, "id" | "planJson" | "chunkCount">): PlanResume {
  if (row.planJson === null || row.chunkCount !== null) return { index: 0, startSample: 0 };
  const plan = JSON.parse(row.planJson) as PlannedChunk[];
  const last = plan.at(-1);
  if (!last) return { index: 0, startSample: 0 };
  if (last.coreEndSample === undefined) throw new Error(`episode ${row.id}: a growing plan without chunk cores cannot be resumed`);
  return { index: last.index + 1, startSample: last.coreEndSample };
}

/**
 * Decoded PCM is appended to the kept file in writes of about this size (ffmpeg hands it over in
 * pieces of a few KiB: one write each cost more CPU than the rest of the cutting), and always
 * before a chunk is recorded, so a recorded chunk's audio is in the file.
 */
const KEEP_WRITE_BYTES = 1024 * 1024;

/**
 * Chunks cut but not yet published before the decode waits: enough that a commit or a slow ack
 * does not stall ffmpeg, few enough that their WAVs (about 2 MB each) stay a small buffer.
 */
export const PUBLISH_AHEAD = 4;

export class ChunkPublisher {
  private readonly stream: ChunkStream;
  readonly resume: PlanResume;
  /** The kept PCM file, opened on the first push. */
  private file: fs.promises.FileHandle | undefined;
  /** Bytes of decoded PCM seen so far, and bytes the kept file holds once `pending` is written. */
  private seen = 0;
  private kept = 0;
  /** PCM not yet written to the kept file. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The queue of file writes and publishes, in order; rejected once one of them failed. */
  private queue: Promise<void> = Promise.resolve();
  /** The publishes queued and not yet done, oldest first (each settles when its chunk is published). */
  private publishing: Promise<void>[] = [];
  /** What the queue failed with, once it has. */
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly episode: Pick<EpisodeRow, "id" | "language" | "chunkSeconds" | "planJson" | "chunkCount">,
    private readonly deps: PublisherDeps,
  ) {
    this.resume = resumePoint(episode);
    this.stream = new ChunkStream(episode.chunkSeconds, {}, this.resume, deps.padSec ?? DEFAULT_CHUNK_PAD);
  }

  /** Samples decoded so far. */
  get samples(): number {
    return this.stream.samples;
  }

  /**
   * Take the next piece of decoded audio: it is kept, and the chunks it completes are queued for
   * publishing. Returns once the piece is taken (waiting while PUBLISH_AHEAD chunks are queued);
   * throws what a queued write or publish failed with.
   */
  async push(pcm: Buffer): Promise<void> {
    if (this.failure) throw this.failure.error;
    await this.keep(pcm);
    for (const chunk of this.stream.push(pcm)) {
      // the PCM pushed so far covers the chunk: it is written before the chunk is recorded
      this.publishing.push(
        this.enqueue(async () => {
          await this.flush();
          await this.publish(chunk);
        }),
      );
    }
    while (this.publishing.length >= PUBLISH_AHEAD) await this.publishing.shift();
  }

  /** The audio ended: publish the rest, once everything queued is. */
  async end(): Promise<void> {
    await this.queue;
    await this.close();
    const rest = this.stream.end();
    // equal: the run before recorded the plan to the very end and died before completing it (a takeover finishes it)
    if (this.samples < this.resume.startSample || this.samples === 0) {
      throw new Error(
        `the audio decoded to ${this.samples} samples, short of the ${this.resume.startSample} already planned: it changed since the last attempt`,
      );
    }
    for (const ready of rest) await this.publish(ready);
  }

  /** Write what is pending and close the kept PCM file (also when the ingest fails). */
  async close(): Promise<void> {
    // nothing queued may write to the file after it is closed (a failure was thrown by push or end)
    await this.queue.catch(() => undefined);
    const file = this.file;
    try {
      await this.flush();
    } finally {
      this.file = undefined;
      await file?.close();
    }
  }

  /**
   * Append `pcm` to the episode's kept PCM. A fresh plan starts the file afresh; a resumed one keeps
   * what is there (the same decode of the same bytes) and appends only past its end.
   */
  private async keep(pcm: Buffer): Promise<void> {
    if (!this.file) {
      const at = this.deps.queue.episodeAudioPath(this.episode.id);
      if (at === undefined) return; // chunks are kept one by one (publish)
      await fs.promises.mkdir(path.dirname(at), { recursive: true, mode: 0o700 });
      const fresh = this.resume.index === 0;
      this.file = await fs.promises.open(at, fresh ? "w" : "a", 0o600);
      this.kept = fresh ? 0 : (await this.file.stat()).size;
    }
    const from = this.seen;
    this.seen += pcm.length;
    if (this.seen <= this.kept) return;
    const fresh = pcm.subarray(Math.max(0, this.kept - from));
    this.pending.push(fresh);
    this.pendingBytes += fresh.length;
    this.kept = this.seen;
    if (this.pendingBytes >= KEEP_WRITE_BYTES) void this.enqueue(() => this.flush());
  }

  /**
   * Run `step` after everything queued before it. A step that fails leaves the queue rejected, so
   * no later step runs and every later await of the queue throws its error.
   */
  private enqueue(step: () => Promise<void>): Promise<void> {
    const done = this.queue.then(step);
    this.queue = done;
    // thrown by the next push or end; not an unhandled rejection meanwhile
    done.catch((error: unknown) => (this.failure ??= { error }));
    return done;
  }

  /**
   * Append the pending PCM to the kept file: one gathered write of ffmpeg's pieces as they are, not
   * a copy of them joined first (a copy of every decoded byte made about 115 MB of short-lived
   * buffers per audio hour, and each few dozen MB of them costs the orchestrator a full garbage
   * collection: BENCHMARKS.md, "Hour episode, streamed").
   */
  private async flush(): Promise<void> {
    if (!this.file || this.pendingBytes === 0) return;
    const pieces = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    await writeAll(this.file, pieces, bytes);
  }

  private async publish({ chunk, wav }: ReadyChunk): Promise<void> {
    const { store, queue } = this.deps;
    this.deps.claim?.signal.throwIfAborted();
    await this.throughOutage("keeping a chunk's audio", chunk.index, () => queue.keepChunkAudio(this.episode.id, chunk, wav));
    // 1, or past every generation of a plan a failed ingest dropped (store/plan-generation.ts)
    const generation = await store.recordChunk(this.episode.id, chunk, this.deps.claim);
    const published = await this.throughOutage("publishing a chunk job", chunk.index, () => queue.publishChunk(this.episode, chunk, generation, wav));
    // false: the episode was cancelled meanwhile; its ingest stops at the next chunk it records
    if (published) this.deps.onPublished?.();
  }

  /**
   * Runs a NATS step of chunk `index`'s publishing again through an outage (module doc). Both steps are
   * safe to repeat: the kept WAV replaces its copy (one message per chunk subject, or the same
   * object name), and the job's message id makes JetStream drop a second copy.
   */
  private throughOutage<T>(what: string, index: number, step: () => Promise<T>): Promise<T> {
    return retryThroughNatsOutage(step, {
      ...(this.deps.claim ? { signal: this.deps.claim.signal } : {}),
      onRetry: (error, attempt) =>
        this.deps.log?.warn(`NATS unreachable while ${what}; trying again`, { episodeId: this.episode.id, index, attempt, error }),
    });
  }
}

/** Writes `pieces` (`bytes` in all) at the file's end, in one writev when the kernel takes them all (a short write is continued). */
async function writeAll(file: fs.promises.FileHandle, pieces: Buffer[], bytes: number): Promise<void> {
  let rest = pieces;
  let left = bytes;
  while (left > 0) {
    // at most IOV_MAX (1024 on Linux) buffers per call
    const batch = rest.length > 1024 ? rest.slice(0, 1024) : rest;
    const { bytesWritten } = await file.writev(batch);
    left -= bytesWritten;
    if (left === 0) return;
    if (bytesWritten === 0) throw new Error("the kept PCM file took no bytes");
    rest = skipBytes(rest, bytesWritten);
  }
}

/** `pieces` without their first `n` bytes. */
function skipBytes(pieces: Buffer[], n: number): Buffer[] {
  let i = 0;
  let skip = n;
  while (skip > 0 && skip >= pieces[i]!.length) skip -= pieces[i++]!.length;
  const out = pieces.slice(i);
  if (skip > 0) out[0] = out[0]!.subarray(skip);
  return out;
}

/**
 * The output end of streaming ingest: decoded PCM goes in, and every chunk the ChunkStream hands
 * out is stored (its WAV in the Object Store), recorded (one row and one plan entry, in one batch)
 * and its job published, in that order and at once. The order is what makes a crash safe: a
 * recorded chunk has its audio, and a recorded chunk whose job never went out is published again
 * at the next start (EpisodeService.republishUnclaimed).
 *
 * A publisher opened on an episode whose plan already holds chunks (a crash, or a download that
 * failed mid-way) resumes after the last one: the planner starts at that chunk's core end, so the
 * chunks published before are neither redone nor changed.
 */
import { chunkAudioObjectName } from "../../contract/wire.ts";
import type { WorkQueue } from "../episodes/work-queue.ts";
import type { EpisodeRow, EpisodeStore, PlannedChunk } from "../store/episode-store.ts";
import type { PlanResume } from "./chunk-plan.ts";
import { ChunkStream, type ReadyChunk } from "./chunk-stream.ts";
import { jobFor } from "./ingest-episode.ts";

export interface PublisherDeps {
  store: EpisodeStore;
  queue: WorkQueue;
  /** Called after each job is published (wakes the autoscaler). */
  onPublished?: (() => void) | undefined;
  /** Chunk indices whose audio was stored are added here (removed again if the ingest fails). */
  stored: number[];
}

/** Where the plan recorded for `row` leaves off (index 0, sample 0 when none). */
export function resumePoint(row: Pick<EpisodeRow, "id" | "planJson" | "chunkCount">): PlanResume {
  if (row.planJson === null || row.chunkCount !== null) return { index: 0, startSample: 0, startsInSpeech: false };
  const plan = JSON.parse(row.planJson) as PlannedChunk[];
  const last = plan.at(-1);
  if (!last) return { index: 0, startSample: 0, startsInSpeech: false };
  if (!last.core) throw new Error(`episode ${row.id}: a growing plan without chunk cores cannot be resumed`);
  return { index: last.index + 1, startSample: last.core.endSample, startsInSpeech: last.core.endsInSpeech };
}

export class ChunkPublisher {
  private readonly stream: ChunkStream;
  readonly resume: PlanResume;

  constructor(
    private readonly episode: Pick<EpisodeRow, "id" | "language" | "chunkSeconds" | "planJson" | "chunkCount">,
    private readonly deps: PublisherDeps,
  ) {
    this.resume = resumePoint(episode);
    this.stream = new ChunkStream(episode.chunkSeconds, {}, this.resume);
  }

  /** Samples decoded so far. */
  get samples(): number {
    return this.stream.samples;
  }

  async push(pcm: Buffer): Promise<void> {
    for (const ready of this.stream.push(pcm)) await this.publish(ready);
  }

  /** The audio ended: publish the rest. */
  async end(): Promise<void> {
    const rest = this.stream.end();
    if (this.samples <= this.resume.startSample) {
      throw new Error(
        `the audio decoded to ${this.samples} samples, short of the ${this.resume.startSample} already planned: it changed since the last attempt`,
      );
    }
    for (const ready of rest) await this.publish(ready);
  }

  private async publish({ chunk, wav }: ReadyChunk): Promise<void> {
    const { store, queue } = this.deps;
    await queue.putChunkAudio(chunkAudioObjectName(this.episode.id, chunk.index), wav);
    this.deps.stored.push(chunk.index);
    await store.recordChunk(this.episode.id, chunk);
    await queue.publishJob(jobFor(this.episode, chunk.index, chunk.startSample, chunk.endSample), 1);
    this.deps.onPublished?.();
  }
}

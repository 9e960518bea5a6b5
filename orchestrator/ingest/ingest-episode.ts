/**
 * Ingest one episode: get the audio (download or upload), check it is audio, decode it once to
 * 16 kHz mono PCM, plan chunks, put every chunk's WAV in the Object Store, record the plan, and
 * only then publish one job per chunk. A failure on the submitter's side (BadInputError) fails
 * the episode with a clear message; nothing is left half-written either way.
 */
import fs from "node:fs";
import path from "node:path";
import { SAMPLE_RATE, chunkAudioObjectName, type ChunkJob } from "../../contract/wire.ts";
import type { WorkQueue } from "../episodes/work-queue.ts";
import type { Logger } from "../log.ts";
import { chunkId, type EpisodeRow, type EpisodeStore } from "../store/episode-store.ts";
import { decodeToPcm, probeAudio, readWavSlice } from "./audio-decode.ts";
import { planChunks } from "./chunk-plan.ts";
import { fetchAudio, type FetchAudioOptions } from "./fetch-audio.ts";
import { BadInputError } from "./ingest-errors.ts";
import { describeRendition } from "./rendition.ts";
import { findSilences, frameEnergies } from "./silence.ts";

export interface IngestDeps {
  store: EpisodeStore;
  queue: WorkQueue;
  /** Scratch space for downloads and PCM; files are removed when ingest ends. */
  workDir: string;
  fetch: FetchAudioOptions;
  log: Logger;
}

/** Runs the whole ingest; never throws for bad input (the episode is failed instead). */
export async function ingestEpisode(episode: EpisodeRow, deps: IngestDeps): Promise<void> {
  const { store, log } = deps;
  const id = episode.id;
  fs.mkdirSync(deps.workDir, { recursive: true });
  const downloadPath = path.join(deps.workDir, `${id}.source`);
  const pcmPath = path.join(deps.workDir, `${id}.pcm`);
  const stored: number[] = [];
  try {
    await store.transitionEpisode(id, "ingesting", { ingestStartedAt: Date.now(), error: null });
    let sourcePath: string;
    let fetched: { finalUrl: string | null; contentType: string | undefined } = { finalUrl: null, contentType: undefined };
    if (episode.sourceKind === "upload") {
      if (!episode.uploadPath || !fs.existsSync(episode.uploadPath)) {
        throw new BadInputError("empty_file", "the uploaded file is gone (was the data directory cleaned?)");
      }
      sourcePath = episode.uploadPath;
    } else {
      const result = await fetchAudio(episode.sourceUrl!, downloadPath, deps.fetch);
      log.info("audio fetched", { episodeId: id, bytes: result.bytes, finalUrl: result.finalUrl });
      fetched = result;
      sourcePath = downloadPath;
    }

    const probe = await probeAudio(sourcePath);
    // Record exactly which bytes are transcribed before decoding them (see rendition.ts).
    const rendition = await describeRendition(sourcePath, fetched, probe.formatName);
    await store.transitionEpisode(id, "ingesting", rendition);
    const sampleCount = await decodeToPcm(sourcePath, pcmPath);
    const durationSec = sampleCount / SAMPLE_RATE;
    const silences = episode.chunkSeconds > 0 ? findSilences(await frameEnergies(pcmPath, SAMPLE_RATE), SAMPLE_RATE) : [];
    const plan = planChunks(sampleCount, episode.chunkSeconds, silences);
    log.info("audio decoded", { episodeId: id, codec: probe.codec, durationSec, chunks: plan.length });

    for (const c of plan) {
      const wav = await readWavSlice(pcmPath, c.startSample, c.endSample);
      await deps.queue.putChunkAudio(chunkAudioObjectName(id, c.index), wav);
      stored.push(c.index);
    }
    await store.recordPlan(id, plan, { durationSec, sampleCount });
    for (const c of plan) {
      await deps.queue.publishJob(jobFor(episode, c.index, c.startSample, c.endSample), 1);
    }
    if (episode.sourceKind === "upload") fs.rmSync(sourcePath, { force: true });
  } catch (err) {
    const current = await store.getEpisode(id);
    if (current?.status === "cancelled") {
      // cancelled mid-ingest: the plan was refused; drop the chunk audio already stored
      log.info("ingest stopped: episode cancelled", { episodeId: id });
      for (const index of stored) await deps.queue.deleteChunkAudio(chunkAudioObjectName(id, index)).catch(() => undefined);
      if (episode.uploadPath) fs.rmSync(episode.uploadPath, { force: true });
      return;
    }
    const message = err instanceof BadInputError ? err.message : `internal error while ingesting: ${(err as Error).message}`;
    log.warn("ingest failed", { episodeId: id, error: err });
    if (current && (current.status === "received" || current.status === "ingesting")) {
      await store.transitionEpisode(id, "failed", { error: message });
    }
    if (episode.uploadPath) fs.rmSync(episode.uploadPath, { force: true });
  } finally {
    fs.rmSync(downloadPath, { force: true });
    fs.rmSync(pcmPath, { force: true });
  }
}

export function jobFor(episode: Pick<EpisodeRow, "id" | "language">, index: number, startSample: number, endSample: number): ChunkJob {
  return {
    v: 1,
    episodeId: episode.id,
    chunkId: chunkId(episode.id, index),
    index,
    startSample,
    endSample,
    sampleRate: SAMPLE_RATE,
    audioObject: chunkAudioObjectName(episode.id, index),
    language: episode.language,
  };
}

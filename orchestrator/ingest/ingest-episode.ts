/**
 * Ingest one episode: get the audio (download or upload), check it is audio, decode it once to
 * 16 kHz mono PCM, plan chunks, hand the PCM to the queue (it keeps it until the episode ends),
 * record the plan, and only then publish one job per chunk (each carries its audio). A failure on the submitter's side (BadInputError) fails
 * the episode with a clear message; a download failure that may pass (TransientFetchError) puts
 * it in "fetch_wait" until the retry decided by fetch-retry.ts is due, or fails it once the
 * retry window is spent. Nothing is left half-written either way.
 *
 * The download and the processing take separate slots (IngestSlots): a slow download holds only
 * a download slot, so an upload, whose bytes are already on disk, never waits behind it.
 */
import fs from "node:fs";
import path from "node:path";
import { SAMPLE_RATE } from "../../contract/wire.ts";
import type { WorkQueue } from "../episodes/work-queue.ts";
import type { Logger } from "../log.ts";
import { isTransientFetchError, type TransientFetchError } from "../outbound/fetch-errors.ts";
import type { EpisodeRow, EpisodeStore, PlannedChunk } from "../store/episode-store.ts";
import { decodeToPcm, probeAudio } from "./audio-decode.ts";
import { CHUNK_PAD_SECONDS, padPlan } from "./chunk-context.ts";
import { planChunks } from "./chunk-plan.ts";
import { fetchAudio, type FetchAudioOptions } from "./fetch-audio.ts";
import { decideFetchRetry, type FetchRetryPolicy } from "./fetch-retry.ts";
import { BadInputError } from "./ingest-errors.ts";
import { describeRendition } from "./rendition.ts";
import { findSilences, frameEnergies } from "./silence.ts";

/** Runs `fn` once a slot of that kind is free (see episodes/ingest-slots.ts). */
export interface IngestSlots {
  download<T>(fn: () => Promise<T>): Promise<T>;
  process<T>(fn: () => Promise<T>): Promise<T>;
}

const NO_LIMIT: IngestSlots = { download: (fn) => fn(), process: (fn) => fn() };

export interface IngestDeps {
  store: EpisodeStore;
  queue: WorkQueue;
  /** Scratch space for downloads and PCM; files are removed when ingest ends. */
  workDir: string;
  fetch: FetchAudioOptions;
  /** How transient download failures are retried; absent = they fail the episode at once. */
  fetchRetry?: FetchRetryPolicy | undefined;
  slots?: IngestSlots | undefined;
  /** Context padding around each chunk's core, seconds (chunk-context.ts); default CHUNK_PAD_SECONDS. */
  chunkPadSec?: number | undefined;
  log: Logger;
  now?: () => number;
}

/** Runs the whole ingest; never throws for bad input or a failed download (the episode is failed or waits instead). */
export async function ingestEpisode(episode: EpisodeRow, deps: IngestDeps): Promise<void> {
  const { store, log } = deps;
  const slots = deps.slots ?? NO_LIMIT;
  const id = episode.id;
  fs.mkdirSync(deps.workDir, { recursive: true });
  const downloadPath = path.join(deps.workDir, `${id}.source`);
  const pcmPath = path.join(deps.workDir, `${id}.pcm`);
  const planned: PlannedChunk[] = [];
  const markIngesting = () => store.transitionEpisode(id, "ingesting", { ingestStartedAt: Date.now(), error: null, nextFetchAt: null });
  try {
    if (episode.sourceKind === "upload") {
      await slots.process(async () => {
        await markIngesting();
        if (!episode.uploadPath || !fs.existsSync(episode.uploadPath)) {
          throw new BadInputError("empty_file", "the uploaded file is gone (was the data directory cleaned?)");
        }
        await processAudio(episode, episode.uploadPath, { finalUrl: null, contentType: undefined }, { deps, pcmPath, planned });
        fs.rmSync(episode.uploadPath, { force: true });
      });
    } else {
      const fetched = await slots.download(async () => {
        await markIngesting();
        const result = await fetchAudio(episode.sourceUrl!, downloadPath, deps.fetch);
        log.info("audio fetched", { episodeId: id, bytes: result.bytes, finalUrl: result.finalUrl });
        return result;
      });
      await slots.process(() => processAudio(episode, downloadPath, fetched, { deps, pcmPath, planned }));
    }
  } catch (err) {
    const current = await store.getEpisode(id);
    if (current?.status === "cancelled") {
      // cancelled mid-ingest: the plan was refused; drop the audio kept and any job published
      log.info("ingest stopped: episode cancelled", { episodeId: id });
      await deps.queue
        .purgeEpisodeAudio(id, planned)
        .catch((e: unknown) => log.warn("could not purge the audio of a cancelled episode", { episodeId: id, error: e }));
      if (episode.uploadPath) fs.rmSync(episode.uploadPath, { force: true });
      return;
    }
    if (current && isTransientFetchError(err)) {
      await downloadFailed(current, err, deps);
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

/** Probe, decode, cut and publish the audio at `sourcePath`. */
async function processAudio(
  episode: EpisodeRow,
  sourcePath: string,
  fetched: { finalUrl: string | null; contentType: string | undefined },
  ctx: { deps: IngestDeps; pcmPath: string; planned: PlannedChunk[] },
): Promise<void> {
  const { deps, pcmPath, planned } = ctx;
  const { store, log } = deps;
  const id = episode.id;
  const probe = await probeAudio(sourcePath);
  // Record exactly which bytes are transcribed before decoding them (see rendition.ts).
  const rendition = await describeRendition(sourcePath, fetched, probe.formatName);
  await store.transitionEpisode(id, "ingesting", rendition);
  const sampleCount = await decodeToPcm(sourcePath, pcmPath);
  const durationSec = sampleCount / SAMPLE_RATE;
  const silences = episode.chunkSeconds > 0 ? findSilences(await frameEnergies(pcmPath, SAMPLE_RATE), SAMPLE_RATE) : [];
  // Cores cut without overlap, then widened by the context padding (chunk-context.ts).
  const plan = padPlan(
    planChunks(sampleCount, episode.chunkSeconds, silences, { overlapSec: 0 }),
    deps.chunkPadSec ?? CHUNK_PAD_SECONDS,
    sampleCount,
    SAMPLE_RATE,
  );
  log.info("audio decoded", { episodeId: id, codec: probe.codec, durationSec, chunks: plan.length });

  // the queue keeps the PCM until the episode ends: jobs carry their audio, re-publishes read it again
  await deps.queue.keepEpisodeAudio(id, pcmPath);
  planned.push(...plan);
  await store.recordPlan(id, plan, { durationSec, sampleCount });
  for (const c of plan) await deps.queue.publishChunk(episode, c, 1);
}

/**
 * A download failed in a way that may pass: wait in "fetch_wait" until the retry is due (the
 * state is in the row, so a restart resumes it), or fail with the last reason once the window is spent.
 */
async function downloadFailed(current: EpisodeRow, err: TransientFetchError, deps: IngestDeps): Promise<void> {
  const { store, log } = deps;
  const now = (deps.now ?? Date.now)();
  const policy = deps.fetchRetry ?? { windowMs: 0, baseDelayMs: 0, maxDelayMs: 0 };
  const decision = decideFetchRetry(
    policy,
    { attempts: current.fetchAttempts, firstFailedAt: current.fetchFirstFailedAt },
    { message: err.message, retryAfterMs: err.retryAfterMs },
    now,
  );
  const facts = { fetchAttempts: decision.attempts, fetchFirstFailedAt: decision.firstFailedAt, fetchError: `${err.code}: ${err.message}` };
  if (decision.kind === "give_up") {
    log.warn("download failed; no retry left", { episodeId: current.id, error: err, attempts: decision.attempts });
    await store.transitionEpisode(current.id, "failed", { ...facts, nextFetchAt: null, error: deps.fetchRetry ? decision.message : err.message });
    return;
  }
  log.warn("download failed; will retry", {
    episodeId: current.id,
    error: err,
    attempts: decision.attempts,
    retryAt: new Date(decision.at).toISOString(),
  });
  await store.transitionEpisode(current.id, "fetch_wait", { ...facts, nextFetchAt: decision.at });
}

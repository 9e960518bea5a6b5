/**
 * Ingest one episode as one stream: the download (or the upload) is decoded by ffmpeg as its
 * bytes arrive, the silence planner fixes each cut as soon as the audio past it is known, and
 * the decoded PCM is kept for the episode as it arrives (queue/chunk-jobs.ts); each chunk is
 * recorded and its job, carrying its WAV, published at once once the audio reaches its padded end
 * (chunk-publisher.ts). The episode turns "transcribing" with its first chunk; the plan is
 * complete (chunkCount set, with the rendition of the bytes) when the audio ends. A crash resumes
 * after the last recorded chunk.
 *
 * The bytes are also written to a file as they arrive: when ffmpeg cannot decode them as a
 * stream (an MP4 whose index is at the end, or not audio at all) the file is probed and decoded
 * instead, resuming after whatever the stream already published, so the errors a submitter sees
 * are the file path's (probeAudio). A failure on the submitter's side (BadInputError) fails the
 * episode with a clear message; a download failure that may pass (TransientFetchError) puts it in
 * "fetch_wait" until the retry decided by fetch-retry.ts is due, or, once chunks are out, retries
 * in place after the same back-off; it fails once the retry window is spent. An episode that fails
 * before its plan is complete takes its partial plan with it (failIngest): chunks already out are
 * stopped for the workers, their rows, the plan and the kept PCM removed; a retry starts afresh.
 *
 * An upload this process is receiving streams the same way, with the request body in place of the
 * download: ffmpeg reads the upload file as it grows (episodes/upload-receipt.ts), so its first
 * chunk is out before its last byte arrived. A body that fails (over the size cap, the client gone)
 * fails the episode with its reason like a failed download; an ingest that ends first (cancelled,
 * failed) abandons the receipt, so the request is answered and nothing of the upload is left. An
 * upload this process is not receiving (a takeover, a restart) is decoded from its complete file,
 * or fails saying it never ended.
 *
 * A streamed download holds a download slot and an upload decoded as it arrives a receiving slot
 * (either decode runs at the network's pace, so neither holds up local work); an upload's complete
 * file and the file fallback take a processing slot. A slow client holds no slot a download or a
 * file needs, and a slow host none an upload needs.
 *
 * Run under an "ingest" claim (cluster/work-claims.ts, `deps.held`), the ingest stops when the
 * claim is lost (its signal aborts the download; each chunk record and the plan's completion are
 * fenced by a check of the claim), and a run that lost its claim writes no outcome: the episode is
 * the new owner's.
 */
import fs from "node:fs";
import path from "node:path";
import type { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { SAMPLE_RATE } from "../../contract/wire.ts";
import { ClaimLostError, type HeldClaim, type WorkClaims } from "../cluster/work-claims.ts";
import { finishEpisode } from "../episodes/finish-episode.ts";
import type { ChunkSpan, WorkQueue } from "../episodes/work-queue.ts";
import type { Logger } from "../log.ts";
import { isTransientFetchError, type TransientFetchError } from "../outbound/fetch-errors.ts";
import type { EpisodeRow, EpisodeStore, PlannedChunk } from "../store/episode-store.ts";
import { decodePcmStream, probeAudio } from "./audio-decode.ts";
import { DEFAULT_CHUNK_PAD, type SidePadding } from "./chunk-context.ts";
import { ChunkPublisher } from "./chunk-publisher.ts";
import { fetchAudio, type FetchAudioOptions } from "./fetch-audio.ts";
import { decideFetchRetry, type FetchRetryPolicy } from "./fetch-retry.ts";
import { BadInputError } from "./ingest-errors.ts";
import { describeRendition } from "./rendition.ts";
import { releaseUpload, uploadedFile, type UploadStore } from "../episodes/upload-store.ts";
import { UploadStoppedError, type UploadReceipt } from "../episodes/upload-receipt.ts";

/** Runs `fn` once a slot of that kind is free (see episodes/ingest-slots.ts). */
export interface IngestSlots {
  download<T>(fn: () => Promise<T>): Promise<T>;
  /** An upload decoded while it arrives: paced by its client, like a download. */
  receive<T>(fn: () => Promise<T>): Promise<T>;
  process<T>(fn: () => Promise<T>): Promise<T>;
}

const NO_LIMIT: IngestSlots = { download: (fn) => fn(), receive: (fn) => fn(), process: (fn) => fn() };

export interface IngestDeps {
  store: EpisodeStore;
  queue: WorkQueue;
  /** Scratch space for downloads; files are removed when ingest ends. */
  workDir: string;
  fetch: FetchAudioOptions;
  /** How transient download failures are retried; absent = they fail the episode at once. */
  fetchRetry?: FetchRetryPolicy | undefined;
  slots?: IngestSlots | undefined;
  /** Context padding before and after each chunk's core, seconds (chunk-context.ts); default DEFAULT_CHUNK_PAD. */
  chunkPadSec?: number | SidePadding | undefined;
  log: Logger;
  now?: () => number;
  /** The upload this process is receiving for the episode (episodes/upload-receipt.ts): decoded as its bytes arrive. */
  receipt?: UploadReceipt | undefined;
  /** Uploads kept for any orchestrator (episodes/upload-store.ts): read when the local file is missing, freed when the ingest ends. */
  uploads?: UploadStore | undefined;
  /** Called after each chunk's job is published (wakes the autoscaler). */
  onPublished?: (() => void) | undefined;
  /** Told how many chunks the audio will likely give, once its byte length is known (the autoscaler's demand hint). */
  onExpected?: ((chunks: number) => void) | undefined;
  /** The ingest claim this run holds (absent: this process is the only one, as in unit tests). */
  held?: HeldClaim | undefined;
  /** Claims for the stitch the end of the ingest may start (episodes/finish-episode.ts). */
  claims?: WorkClaims | undefined;
}

/** Whether this run may still write the episode's outcome: no claim, or the claim is still ours. */
async function stillOurs(deps: IngestDeps): Promise<boolean> {
  try {
    await deps.held?.check();
    return true;
  } catch (err) {
    if (err instanceof ClaimLostError) return false;
    throw err;
  }
}

/** Bit rate assumed to guess an episode's length from its bytes (a typical podcast MP3): only decides how many machines start early. */
const HINT_BITS_PER_SEC = 128_000;

function expectChunks(row: Pick<EpisodeRow, "chunkSeconds">, bytes: number | undefined, deps: IngestDeps): void {
  if (bytes === undefined || !deps.onExpected) return;
  const seconds = (bytes * 8) / HINT_BITS_PER_SEC;
  deps.onExpected(row.chunkSeconds > 0 ? Math.max(1, Math.round(seconds / row.chunkSeconds)) : 1);
}

/** Runs the whole ingest; never throws for bad input or a failed download (the episode is failed or waits instead). */
export async function ingestEpisode(episode: EpisodeRow, deps: IngestDeps): Promise<void> {
  const { store, log } = deps;
  const slots = deps.slots ?? NO_LIMIT;
  const id = episode.id;
  fs.mkdirSync(deps.workDir, { recursive: true });
  const downloadPath = path.join(deps.workDir, `${id}.source`);
  // where an upload received by another orchestrator is fetched to (upload-store.ts)
  const fetchedUploadPath = path.join(deps.workDir, `${id}.upload`);
  const ctx: IngestContext = { deps };
  try {
    for (;;) {
      try {
        if (episode.sourceKind === "upload") {
          if (deps.receipt) await streamUpload(episode, deps.receipt, ctx);
          else {
            await slots.process(async () => {
              const row = await begin(episode, deps);
              const source = await uploadedFile(episode, fetchedUploadPath, deps.uploads, deps.log);
              await decodeFile(row, source, { finalUrl: null, contentType: undefined }, ctx);
            });
          }
          await releaseUpload(episode, fetchedUploadPath, deps.uploads, deps.log);
        } else {
          await streamDownload(episode, downloadPath, ctx);
        }
        return;
      } catch (err) {
        const current = await store.getEpisode(id);
        // chunks are out: a download that may recover is retried in place, resuming after them
        if (current?.status === "transcribing" && current.chunkCount === null && isTransientFetchError(err)) {
          const waitMs = await retryMidStream(current, err, deps);
          if (waitMs !== undefined) {
            await sleep(waitMs, undefined, deps.held ? { signal: deps.held.signal } : {});
            continue;
          }
        }
        throw err;
      }
    }
  } catch (err) {
    // lost the claim: another orchestrator ingests it now, and the episode's outcome is its to write
    if (err instanceof ClaimLostError || deps.held?.signal.aborted || !(await stillOurs(deps))) {
      log.warn("ingest stopped: its claim was taken over", { episodeId: id });
      await stopReceipt(deps, "its ingest was taken over by another orchestrator");
      return;
    }
    const current = await store.getEpisode(id);
    if (current?.status === "cancelled") {
      await stopReceipt(deps, `episode ${id} was cancelled`);
      // cancelled mid-ingest: the live marker goes (workers drop its chunks) and the kept PCM with it
      log.info("ingest stopped: episode cancelled", { episodeId: id });
      const planned = current.planJson ? (JSON.parse(current.planJson) as PlannedChunk[]) : [];
      await purgeAudio(id, planned, deps);
      await releaseUpload(episode, fetchedUploadPath, deps.uploads, deps.log);
      return;
    }
    if (current && isTransientFetchError(err) && current.status !== "transcribing" && current.status !== "failed") {
      await downloadFailed(current, err, deps);
      return;
    }
    const message =
      err instanceof BadInputError || isTransientFetchError(err) ? err.message : `internal error while ingesting: ${(err as Error).message}`;
    log.warn("ingest failed", { episodeId: id, error: err });
    await failIngest(id, { error: message }, deps);
    await stopReceipt(deps, `episode ${id} failed: ${message}`);
    await releaseUpload(episode, fetchedUploadPath, deps.uploads, deps.log);
  } finally {
    // whatever ended the run (even an error of its own bookkeeping), no upload is left arriving unfollowed
    await stopReceipt(deps, "its ingest stopped");
    fs.rmSync(downloadPath, { force: true });
  }
}

/**
 * Mark the episode ingesting, unless it is resuming a plan already under way ("transcribing"). A
 * fresh run (a retry of an episode that failed mid-ingest) drops the partial plan of the run before:
 * its chunks' audio is gone, so they are planned and published again.
 */
async function begin(episode: EpisodeRow, deps: IngestDeps): Promise<EpisodeRow> {
  const current = (await deps.store.getEpisode(episode.id)) ?? episode;
  if (current.status === "transcribing") return current;
  return deps.store.transitionEpisode(episode.id, "ingesting", { ingestStartedAt: Date.now(), error: null, nextFetchAt: null, planJson: null });
}

interface IngestContext {
  deps: IngestDeps;
}

function publisherFor(row: EpisodeRow, ctx: IngestContext): ChunkPublisher {
  const { store, queue, onPublished, chunkPadSec, held, log } = ctx.deps;
  return new ChunkPublisher(row, {
    store,
    queue,
    onPublished,
    padSec: chunkPadSec ?? DEFAULT_CHUNK_PAD,
    log,
    claim: held,
  });
}

/** Download, decode and publish as one stream; the file decode takes over if the stream cannot be decoded. */
async function streamDownload(episode: EpisodeRow, downloadPath: string, ctx: IngestContext): Promise<void> {
  const { deps } = ctx;
  const slots = deps.slots ?? NO_LIMIT;
  const outcome = await slots.download(async () => {
    const row = await begin(episode, deps);
    const publisher = publisherFor(row, ctx);
    const download = async (tee: Writable): Promise<StreamedSource> => {
      const fetched = await fetchAudio(episode.sourceUrl!, downloadPath, {
        ...deps.fetch,
        tee,
        onLength: (bytes) => expectChunks(row, bytes, deps),
        signal: deps.held?.signal,
      });
      deps.log.info("audio fetched", { episodeId: episode.id, bytes: fetched.bytes, finalUrl: fetched.finalUrl });
      return { path: downloadPath, fetched };
    };
    try {
      return await streamInto(publisher, row, download, ctx);
    } finally {
      await publisher.close();
    }
  });
  if ("failed" in outcome.streamed) {
    deps.log.info("audio not decodable as a stream; decoding the file", { episodeId: episode.id, reason: outcome.streamed.failed.message });
    await slots.process(async () => decodeFile((await deps.store.getEpisode(episode.id))!, downloadPath, outcome.source.fetched, ctx));
  }
}

/**
 * Decode an upload while it arrives (the receipt's file followed as it grows), publishing chunks
 * at once; bytes ffmpeg cannot decode as a stream are decoded from the complete file instead, as a
 * download's are.
 */
async function streamUpload(episode: EpisodeRow, receipt: UploadReceipt, ctx: IngestContext): Promise<void> {
  const { deps } = ctx;
  const slots = deps.slots ?? NO_LIMIT;
  const outcome = await slots.receive(async () => {
    const row = await begin(episode, deps);
    expectChunks(row, receipt.declaredBytes, deps);
    const publisher = publisherFor(row, ctx);
    const upload = async (tee: Writable): Promise<StreamedSource> => {
      const got = await receipt.pipeTo(tee, deps.held?.signal);
      deps.log.info("upload received", { episodeId: episode.id, bytes: got.bytes });
      return { path: got.path, fetched: { finalUrl: null, contentType: undefined } };
    };
    try {
      return await streamInto(publisher, row, upload, ctx);
    } finally {
      await publisher.close();
    }
  });
  if ("failed" in outcome.streamed) {
    deps.log.info("upload not decodable as a stream; decoding the file", { episodeId: episode.id, reason: outcome.streamed.failed.message });
    await slots.process(async () => decodeFile((await deps.store.getEpisode(episode.id))!, receipt.uploadPath, outcome.source.fetched, ctx));
  }
}

/** What the rendition records of where the bytes came from (rendition.ts): null and undefined for an upload. */
type SourceOrigin = { finalUrl: string | null; contentType: string | undefined };

/** Bytes streamed whole to a file: where, and their origin. */
interface StreamedSource {
  path: string;
  fetched: SourceOrigin;
}

/**
 * Run `receive`, which writes its bytes to the stdin it is given as they arrive and resolves once
 * they are all in its file, while ffmpeg decodes the same bytes into `publisher`.
 */
async function streamInto(
  publisher: ChunkPublisher,
  row: EpisodeRow,
  receive: (stdin: Writable) => Promise<StreamedSource>,
  ctx: IngestContext,
): Promise<{ source: StreamedSource; streamed: { samples: number } | { failed: BadInputError } }> {
  const decode = decodePcmStream("stdin", (pcm) => publisher.push(pcm));
  let source: StreamedSource;
  try {
    source = await receive(decode.stdin!);
  } catch (err) {
    decode.kill();
    // a publish that failed (cancelled, say) says more than the download it cut short
    const decodeErr = await decode.done.then(
      () => undefined,
      (e: unknown) => e,
    );
    throw decodeErr !== undefined && !(decodeErr instanceof BadInputError) ? decodeErr : err;
  }
  decode.stdin!.end();
  const streamed = await decode.done.then(
    (samples) => ({ samples }),
    (err: unknown) => {
      if (err instanceof BadInputError) return { failed: err };
      throw err;
    },
  );
  if ("samples" in streamed) {
    await publisher.end();
    await completePlan(row, source.path, source.fetched, publisher.samples, ctx);
  }
  return { source, streamed };
}

/** Probe and decode a complete file, publishing chunks as they are cut (after any already recorded). */
async function decodeFile(row: EpisodeRow, sourcePath: string, fetched: SourceOrigin, ctx: IngestContext): Promise<void> {
  await probeAudio(sourcePath);
  expectChunks(row, fs.statSync(sourcePath).size, ctx.deps);
  const publisher = publisherFor(row, ctx);
  try {
    await decodePcmStream({ file: sourcePath }, (pcm) => publisher.push(pcm)).done;
    await publisher.end();
  } finally {
    await publisher.close();
  }
  await completePlan(row, sourcePath, fetched, publisher.samples, ctx);
}

/** The audio ended: record the rendition and the complete plan, and finish if every chunk is already done. */
async function completePlan(row: EpisodeRow, sourcePath: string, fetched: SourceOrigin, sampleCount: number, ctx: IngestContext): Promise<void> {
  const { store, log, queue } = ctx.deps;
  const probe = await probeAudio(sourcePath);
  // exactly which bytes were transcribed (see rendition.ts)
  const rendition = await describeRendition(sourcePath, fetched, probe.formatName);
  const durationSec = sampleCount / SAMPLE_RATE;
  const done = await store.completePlan(row.id, { ...rendition, durationSec, sampleCount }, ctx.deps.held);
  log.info("audio planned", { episodeId: row.id, codec: probe.codec, durationSec, chunks: done.chunkCount });
  await finishEpisode(row.id, { store, queue, log, claims: ctx.deps.claims });
}

/**
 * The ingest ended before the upload it follows: the receipt is stopped (the request answered
 * with `why`, the part file removed) and waited for, so the release after it finds every file.
 */
async function stopReceipt(deps: IngestDeps, why: string): Promise<void> {
  if (!deps.receipt) return;
  deps.receipt.abandon(new UploadStoppedError(`the upload was stopped before its end: ${why}`));
  await deps.receipt.settled;
}

/**
 * Purge an episode's audio once (queue/chunk-jobs.ts): its live marker (the workers drop its
 * chunks), the kept PCM, any chunk objects. `final` for a cancelled episode; a failed ingest's
 * purge is not (a retry downloads the episode afresh and publishes it again).
 */
async function purgeAudio(episodeId: string, chunks: readonly ChunkSpan[], deps: IngestDeps, final = true): Promise<void> {
  await deps.queue
    .purgeEpisodeAudio(episodeId, chunks, { final })
    .catch((e: unknown) => deps.log.warn("could not purge the audio of an episode whose ingest stopped", { episodeId, error: e }));
}

/**
 * The ingest failed before its plan was complete: the episode fails with the reason and its
 * partial plan goes with it (EpisodeStore.failIngest), so chunks already published are stopped
 * for the workers and their kept PCM freed; nothing keeps running or lies half-written for it.
 */
async function failIngest(episodeId: string, patch: Parameters<EpisodeStore["failIngest"]>[1], deps: IngestDeps): Promise<void> {
  const dropped = await deps.store.failIngest(episodeId, patch);
  if (dropped) await purgeAudio(episodeId, dropped, deps, false);
}

/**
 * A download failed mid-stream after chunks were published: the episode stays "transcribing"
 * (its chunks run on) and the download is tried again after the back-off fetch-retry.ts decides.
 * Returns the wait, or undefined once the window is spent (the caller fails the episode).
 */
async function retryMidStream(current: EpisodeRow, err: TransientFetchError, deps: IngestDeps): Promise<number | undefined> {
  const now = (deps.now ?? Date.now)();
  const policy = deps.fetchRetry ?? { windowMs: 0, baseDelayMs: 0, maxDelayMs: 0 };
  const decision = decideFetchRetry(
    policy,
    { attempts: current.fetchAttempts, firstFailedAt: current.fetchFirstFailedAt },
    { message: err.message, retryAfterMs: err.retryAfterMs },
    now,
  );
  await deps.store.noteFetchFailure(current.id, {
    fetchAttempts: decision.attempts,
    fetchFirstFailedAt: decision.firstFailedAt,
    fetchError: `${err.code}: ${err.message}`,
  });
  if (decision.kind === "give_up") return undefined;
  deps.log.warn("download failed mid-stream; will resume", {
    episodeId: current.id,
    error: err,
    attempts: decision.attempts,
    retryAt: new Date(decision.at).toISOString(),
  });
  return Math.max(0, decision.at - now);
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
    await failIngest(current.id, { ...facts, nextFetchAt: null, error: deps.fetchRetry ? decision.message : err.message }, deps);
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

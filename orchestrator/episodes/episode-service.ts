/**
 * What the API and CLI do with episodes: submit (URL or upload), look up, list, and read the
 * finished transcript files. Ingest runs in the background with bounded concurrency (downloads
 * and processing in separate slots: ingest-slots.ts), so a submission returns as soon as the
 * episode is recorded. Downloads that failed in a way that may pass wait in "fetch_wait";
 * `retryDueFetches` is the pass that starts them again when due.
 *
 * With several orchestrators on one database every ingest runs under the episode's "ingest" claim
 * (claimed-ingest.ts): a submission is claimed before its episode row exists, a download retry
 * only starts when it can be claimed, and `takeOver` is how another orchestrator's takeover pass
 * (work-takeover.ts) resumes an ingest whose owner died.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { Logger } from "../log.ts";
import { checkUrl } from "../outbound/url-policy.ts";
import type { FetchRetryPolicy } from "../ingest/fetch-retry.ts";
import type { WorkClaims } from "../cluster/work-claims.ts";
import type { IngestDeps } from "../ingest/ingest-episode.ts";
import type { ChunkCounts, ChunkRow, EpisodeRow, EpisodeStore, PlannedChunk } from "../store/episode-store.ts";
import type { TranscriptFormat } from "../transcript/formats.ts";
import { finishEpisode, transcriptObject } from "./finish-episode.ts";
import { SAMPLE_RATE } from "../../contract/wire.ts";
import type { UploadStore } from "./upload-store.ts";
import { UploadReceipt, type IncomingUpload } from "./upload-receipt.ts";
import type { WorkQueue } from "./work-queue.ts";
import type { EpisodeLinkRow, EpisodeOrigin } from "../sources/episode-links.ts";
import { runClaimedIngest } from "./claimed-ingest.ts";
import { ingestSlots } from "./ingest-slots.ts";
import { DEFAULT_LANGUAGE, normalizeLanguageTag } from "./language-tag.ts";

function episodeLanguage(raw: string | undefined): string {
  return normalizeLanguageTag(raw) ?? DEFAULT_LANGUAGE;
}

export interface SubmitOptions {
  title?: string | undefined;
  chunkSeconds?: number | undefined;
  /** BCP 47 tag (any case, `_` or `-`); absent or not a tag: DEFAULT_LANGUAGE. Callers refuse garbage before this. */
  language?: string | undefined;
  /** Where to POST the signed completion event (see delivery/). */
  callbackUrl?: string | undefined;
  /** Where the episode came from (feed, webhook) and its identity; recorded by `beforeCreate`. */
  origin?: EpisodeOrigin | undefined;
}

export interface EpisodeView {
  id: string;
  title: string | null;
  status: string;
  error: string | null;
  source: { kind: string; url: string | null };
  durationSec: number | null;
  chunkSeconds: number;
  /** BCP 47 tag: the engine's hint and the transcripts' language. */
  language: string;
  chunks: ChunkCounts;
  /**
   * Download retries (URL episodes): failed attempts of the current round, the last transient
   * reason, and when the next try is due while the status is "fetch_wait" (null otherwise).
   */
  download: { attempts: number; lastError: string | null; nextAttemptAt: string | null };
  /** Exactly which file was transcribed; null fields until ingest has read the audio. */
  rendition: {
    sourceUrl: string | null;
    finalUrl: string | null;
    bytes: number | null;
    sha256: string | null;
    contentType: string | null;
    durationSec: number | null;
  };
  /** Why its queued chunks wait for a machine (e.g. workers failing to boot); only in the single-episode view (GET /v1/episodes/:id). */
  waiting?: { cause: string; detail: string } | null;
  /** Where the audio was cut and why (null until planned); only in the single-episode view. */
  plan?: PlannedChunk[] | null;
  /** Each chunk: span, state, which machine holds or held it, attempt, time, last error; only in the single-episode view. */
  chunkList?: ChunkView[];
  timings: {
    createdAt: string;
    ingestStartedAt: string | null;
    transcribeStartedAt: string | null;
    finishedAt: string | null;
    wallMs: number | null;
  };
}

/** One chunk as `GET /v1/episodes/:id` shows it (`chunkList`) and `podfleet jobs show` tabulates it. */
export interface ChunkView {
  index: number;
  startSec: number;
  endSec: number;
  state: string;
  /** Delivery count of the attempt that holds (or last held) the lease; 0 before the first. */
  attempt: number;
  /** The machine (worker id) that holds or last held it; null before the first claim. */
  machineId: string | null;
  leasedAt: string | null;
  doneAt: string | null;
  /** How long the worker spent on it (the accepted result's own measure). */
  processingMs: number | null;
  error: string | null;
}

/**
 * The single-episode view from the store alone: what the API serves and what the CLI reads
 * straight from the database when no orchestrator runs (cli/offline-episodes.ts).
 */
export async function episodeView(store: EpisodeStore, id: string): Promise<EpisodeView | undefined> {
  const row = await store.getEpisode(id);
  if (!row) return undefined;
  const chunkRows = await store.listChunks(id);
  return { ...toView(row, await store.chunkCounts(id)), plan: parsePlan(row.planJson), chunkList: chunkRows.map(toChunkView) };
}

/** The newest `limit` episodes, as the list view. */
export async function episodeList(store: EpisodeStore, limit: number): Promise<EpisodeView[]> {
  const rows = await store.listEpisodes(limit);
  return Promise.all(rows.map(async (r) => toView(r, await store.chunkCounts(r.id))));
}

function toChunkView(c: ChunkRow): ChunkView {
  return {
    index: c.index,
    // the chunk's own part of the episode (its core); its audio adds the context padding around it
    startSec: (c.coreStartSample ?? c.startSample) / SAMPLE_RATE,
    endSec: (c.coreEndSample ?? c.endSample) / SAMPLE_RATE,
    state: c.state,
    attempt: c.attempt,
    machineId: c.leaseOwner,
    leasedAt: iso(c.leasedAt),
    doneAt: iso(c.doneAt),
    processingMs: c.processingMs,
    error: c.lastError,
  };
}

/** Time-ordered, URL-safe, unguessable enough for an id: 6 bytes of time + 8 random bytes. */
export function newEpisodeId(now = Date.now()): string {
  const t = Buffer.alloc(6);
  t.writeUIntBE(now, 0, 6);
  return `ep_${t.toString("hex")}${randomBytes(8).toString("hex")}`;
}

export class EpisodeService {
  /** Ingests started and not yet ended, by episode id: one at a time per episode, and what `drain` waits for. */
  private readonly running = new Map<string, Promise<void>>();
  /** Demand hint per ingest in flight: chunks it is expected to give, and published so far. */
  private readonly expected = new Map<string, { chunks: number; published: number }>();
  private readonly slots;

  constructor(
    private readonly deps: {
      store: EpisodeStore;
      queue: WorkQueue;
      ingest: Omit<IngestDeps, "store" | "queue" | "log">;
      uploadDir: string;
      /** An upload body that sends nothing for this long fails its episode with a 408 (PODFLEET_UPLOAD_IDLE_SEC); absent = no limit. */
      uploadIdleMs?: number | undefined;
      /**
       * Where a received upload is kept for any orchestrator until its ingest ends (upload-store.ts);
       * absent = only the file in uploadDir (one orchestrator, embedded NATS).
       */
      uploads?: UploadStore | undefined;
      defaultChunkSeconds: number;
      /** Episodes probed, decoded and cut at once (CPU-bound). */
      maxConcurrentIngests: number;
      /** Downloads at once; separate from the above, so a slow download never holds up an upload. */
      maxConcurrentDownloads: number;
      /** Uploads decoded while they arrive, at once (PODFLEET_MAX_STREAMED_UPLOADS); default maxConcurrentDownloads. */
      maxConcurrentReceives?: number | undefined;
      /** How transient download failures are retried; absent = they fail the episode at once. */
      fetchRetry?: FetchRetryPolicy | undefined;
      log: Logger;
      /** Called once chunks are queued, so the autoscaler reacts without waiting for its timer. */
      onQueued?: () => void;
      /**
       * Checks a submission's links before anything is recorded (callback URL, an identity already
       * taken; throwing refuses it) and returns the link row the store writes in the episode's own
       * transaction, identity claim included.
       */
      links?: { prepare(episodeId: string, opts: SubmitOptions): Promise<EpisodeLinkRow | undefined> };
      /** Ingests and stitches run under work claims (cluster/work-claims.ts); absent: this process is the only one. */
      claims?: WorkClaims | undefined;
    },
  ) {
    this.slots = ingestSlots({
      downloads: deps.maxConcurrentDownloads,
      receiving: deps.maxConcurrentReceives ?? deps.maxConcurrentDownloads,
      processing: deps.maxConcurrentIngests,
    });
  }

  async submitUrl(audioUrl: string, opts: SubmitOptions = {}): Promise<EpisodeRow> {
    // Refuse what can be refused now (bad scheme, literal private address); DNS is checked at fetch time.
    checkUrl(audioUrl, this.deps.ingest.fetch.allowPrivate);
    const id = newEpisodeId();
    const link = await this.deps.links?.prepare(id, opts);
    const row = await this.claimedCreate(id, () =>
      this.deps.store.createEpisode(
        {
          id,
          title: opts.title ?? null,
          sourceKind: "url",
          sourceUrl: audioUrl,
          uploadPath: null,
          chunkSeconds: opts.chunkSeconds ?? this.deps.defaultChunkSeconds,
          language: episodeLanguage(opts.language),
        },
        link,
      ),
    );
    this.startIngest(row);
    return row;
  }

  /**
   * Record an upload and ingest it while its body arrives (upload-receipt.ts): the episode is
   * recorded first, its ingest follows the file the body is written to, and this resolves (with the
   * episode as it is now, often already transcribing) once the whole body is on disk and kept.
   * Rejects with the body's failure (BadInputError too_large or fetch_failed, for a 4xx) or with
   * UploadStoppedError when the episode's ingest ended first; the ingest then fails (or has
   * cancelled) the episode, its published chunks cancelled and the upload's files removed.
   */
  async submitUpload(upload: IncomingUpload, opts: SubmitOptions = {}): Promise<EpisodeRow> {
    const { row, receipt } = await this.openUpload(upload, opts);
    this.startIngest(row, receipt);
    await receipt.receive(this.withIdleLimit(upload), () => this.keepUpload(row.id, receipt.uploadPath));
    return (await this.deps.store.getEpisode(row.id)) ?? row;
  }

  /**
   * The receiving half of submitUpload alone: the episode is recorded and the body written and kept
   * (in the upload store when there is one, so any orchestrator can read it), but no ingest starts:
   * whoever resumes the episode runs it (resumeIngest). A body that fails fails the episode.
   */
  async receiveUpload(upload: IncomingUpload, opts: SubmitOptions = {}): Promise<EpisodeRow> {
    const { row, receipt } = await this.openUpload(upload, opts);
    try {
      await receipt.receive(this.withIdleLimit(upload), () => this.keepUpload(row.id, receipt.uploadPath));
    } catch (err) {
      await this.deps.store.transitionEpisode(row.id, "failed", { error: err instanceof Error ? err.message : String(err) });
      await this.deps.uploads?.remove(row.id).catch(() => undefined);
      throw err;
    }
    return row;
  }

  /** Records an upload episode with the part file its body is about to be written to; nothing is left if it is refused. */
  private async openUpload(upload: IncomingUpload, opts: SubmitOptions): Promise<{ row: EpisodeRow; receipt: UploadReceipt }> {
    const id = newEpisodeId();
    const link = await this.deps.links?.prepare(id, opts);
    fs.mkdirSync(this.deps.uploadDir, { recursive: true });
    const uploadPath = path.join(this.deps.uploadDir, `${id}.upload`);
    const receipt = await UploadReceipt.open(uploadPath, upload.declaredBytes);
    try {
      const row = await this.claimedCreate(id, () =>
        this.deps.store.createEpisode(
          {
            id,
            title: opts.title ?? null,
            sourceKind: "upload",
            sourceUrl: null,
            uploadPath,
            chunkSeconds: opts.chunkSeconds ?? this.deps.defaultChunkSeconds,
            language: episodeLanguage(opts.language),
          },
          link,
        ),
      );
      return { row, receipt };
    } catch (err) {
      await receipt.discard();
      throw err;
    }
  }

  /** The upload with the service's idle limit, unless the caller set its own. */
  private withIdleLimit(upload: IncomingUpload): IncomingUpload {
    return upload.idleMs === undefined && this.deps.uploadIdleMs !== undefined ? { ...upload, idleMs: this.deps.uploadIdleMs } : upload;
  }

  /** The complete upload goes to the upload store (when there is one) before it is acknowledged. */
  private async keepUpload(id: string, uploadPath: string): Promise<void> {
    await this.deps.uploads?.keep(id, uploadPath);
  }

  /**
   * Start (again) the ingest of one episode that is received, ingesting, or transcribing with its
   * plan still growing: e.g. one another orchestrator began and did not finish. An upload this
   * orchestrator never received is read from the upload store. False when there is nothing to run
   * (unknown, finished, or already running here).
   */
  async resumeIngest(episodeId: string): Promise<boolean> {
    const row = await this.deps.store.getEpisode(episodeId);
    if (!row) return false;
    const resumable = row.status === "received" || row.status === "ingesting" || (row.status === "transcribing" && row.chunkCount === null);
    return resumable && this.takeOver(row);
  }

  /**
   * Claims a new episode's ingest before its row is written, so no other orchestrator's takeover
   * pass ever sees the episode unclaimed (its upload is on this machine); released if the row is refused.
   */
  private async claimedCreate(id: string, create: () => Promise<EpisodeRow>): Promise<EpisodeRow> {
    const claims = this.deps.claims;
    if (!claims) return create();
    if (!(await claims.claim("ingest", id)).owned) throw new Error(`episode id ${id} is already claimed`);
    try {
      return await create();
    } catch (err) {
      await claims.release("ingest", id).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Resume an ingest left unfinished (received, ingesting, or a plan still growing) by a run that
   * died, this process's previous life or another orchestrator: it runs once its claim is ours (a
   * live claim of someone else's makes it a no-op). False when one is already running here.
   */
  takeOver(row: EpisodeRow): boolean {
    if (this.running.has(row.id)) return false;
    this.startIngest(row);
    return true;
  }

  /** Ingests running (or waiting for a slot) in this process: the takeover pass leaves ingest slots for them. */
  get ingestsInFlight(): number {
    return this.running.size;
  }

  /** Whether this process is ingesting `episodeId` now. */
  isIngesting(episodeId: string): boolean {
    return this.running.has(episodeId);
  }

  /**
   * The download-retry pass: every episode in "fetch_wait" whose retry is due is claimed
   * (fetch_wait → received) and ingested again. Runs on a timer and at boot, so a restart in the
   * middle of a back-off resumes it. Returns how many were started.
   */
  async retryDueFetches(now = Date.now()): Promise<number> {
    let started = 0;
    for (const due of await this.deps.store.dueFetchRetries(now)) {
      if (this.running.has(due.id)) continue;
      // only a retry this orchestrator can claim: with several, one of them runs it
      if (this.deps.claims && !(await this.deps.claims.claim("ingest", due.id)).owned) continue;
      const row = await this.deps.store.claimFetchRetry(due.id);
      if (!row) {
        await this.deps.claims?.release("ingest", due.id);
        continue;
      }
      this.deps.log.info("retrying download", { episodeId: row.id, attempt: row.fetchAttempts + 1 });
      this.startIngest(row);
      started++;
    }
    return started;
  }

  /**
   * Cancel an unfinished episode: the store marks it and its open chunks cancelled (fenced from
   * then on), then the episode's audio is purged at once: its live marker (and any chunk objects)
   * deleted. That is the signal to workers (contract/wire.ts, "Cancellation"): a queued job finds
   * it gone and is dropped, a running one sees it gone at its next heartbeat and abandons the chunk.
   */
  async cancel(id: string): Promise<{ outcome: "cancelled" | "not_found" | "refused"; state?: string }> {
    const { outcome, state, chunks } = await this.deps.store.cancelEpisode(id);
    if (outcome !== "cancelled") return { outcome, ...(state ? { state } : {}) };
    const all = await this.deps.store.listChunks(id);
    await this.deps.queue
      .purgeEpisodeAudio(id, all)
      .catch((err: unknown) => this.deps.log.warn("could not purge the audio of a cancelled episode", { episodeId: id, error: err }));
    this.deps.log.info("episode cancelled", { episodeId: id, openChunks: chunks.length });
    return { outcome };
  }

  /**
   * Retry a failed episode: its dead chunks go back to the queue at a new generation (other chunks
   * keep their results), or, when none is dead (stitching failed), it is stitched again. A URL
   * episode that failed before it was cut into chunks is downloaded again.
   */
  async retry(id: string): Promise<{ outcome: "retried" | "not_found" | "refused"; reason: string; requeued: number; redownload: boolean }> {
    const r = await this.deps.store.retryFailed(id);
    if (r.outcome !== "retried") return { outcome: r.outcome, reason: r.reason ?? "", requeued: 0, redownload: false };
    if (r.redownload) {
      this.deps.log.info("episode retried: downloading again", { episodeId: id });
      this.startIngest(r.redownload);
      return { outcome: "retried", reason: "", requeued: 0, redownload: true };
    }
    const row = (await this.deps.store.getEpisode(id))!;
    for (const c of r.chunks) await this.deps.queue.publishChunk(row, c, c.generation);
    this.deps.log.info("episode retried", { episodeId: id, requeued: r.chunks.length });
    if (r.chunks.length > 0) this.deps.onQueued?.();
    else await finishEpisode(id, { store: this.deps.store, queue: this.deps.queue, log: this.deps.log, claims: this.deps.claims });
    return { outcome: "retried", reason: "", requeued: r.chunks.length, redownload: false };
  }

  async view(id: string): Promise<EpisodeView | undefined> {
    return episodeView(this.deps.store, id);
  }

  async list(limit: number): Promise<EpisodeView[]> {
    return episodeList(this.deps.store, limit);
  }

  async transcript(id: string, format: TranscriptFormat): Promise<Uint8Array | null> {
    return this.deps.queue.getTranscriptFile(transcriptObject(id, format));
  }

  /**
   * Chunks the ingests in flight are expected to publish still: 1 per episode until its length is
   * known, then its byte length at a typical bit rate over the chunk length. The autoscaler counts
   * them as queued, so machines boot while the first chunk is being cut.
   */
  expectedChunks(): number {
    let n = 0;
    for (const e of this.expected.values()) n += Math.max(0, e.chunks - e.published);
    return n;
  }

  /** Wait for every ingest in flight (used at shutdown). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running.values()]);
  }

  /** Ingests `row` in the background (following `receipt`, the upload arriving now, if given), unless an ingest of it is already running. */
  private startIngest(row: EpisodeRow, receipt?: UploadReceipt): void {
    if (this.running.has(row.id)) return;
    const hint = { chunks: 1, published: 0 };
    this.expected.set(row.id, hint);
    this.deps.onQueued?.();
    const run = async () => {
      await runClaimedIngest(row, {
        ...this.deps.ingest,
        store: this.deps.store,
        queue: this.deps.queue,
        log: this.deps.log,
        uploads: this.deps.uploads,
        receipt,
        slots: this.slots,
        fetchRetry: this.deps.fetchRetry,
        claims: this.deps.claims,
        onSkipped: (reason) => this.deps.log.debug("ingest not run here", { episodeId: row.id, reason }),
        onPublished: () => {
          hint.published++;
          this.deps.onQueued?.();
        },
        onExpected: (chunks) => {
          hint.chunks = chunks;
          this.deps.onQueued?.();
        },
      });
      this.deps.onQueued?.();
    };
    const p = run()
      .catch((err: unknown) => this.failCrashedIngest(row.id, err))
      .finally(() => {
        this.running.delete(row.id);
        this.expected.delete(row.id);
      });
    this.running.set(row.id, p);
  }

  /**
   * An error ingestEpisode did not turn into a failed episode (its own bookkeeping threw, or the
   * work directory is unusable) ends that episode, not the process: failed with the reason. If
   * even that write fails, the episode stays unfinished and the next start resumes its ingest.
   */
  private async failCrashedIngest(episodeId: string, err: unknown): Promise<void> {
    const message = err instanceof Error ? err.message : String(err);
    this.deps.log.error("ingest crashed", { episodeId, error: err });
    try {
      const current = await this.deps.store.getEpisode(episodeId);
      if (current && (current.status === "received" || current.status === "ingesting")) {
        await this.deps.store.transitionEpisode(episodeId, "failed", { error: `ingest stopped by an unexpected error: ${message}`.slice(0, 1000) });
      }
    } catch (writeErr) {
      this.deps.log.error("could not record a crashed ingest; it resumes at the next start", { episodeId, error: writeErr });
    }
  }
}

/** A chunk's job at the chunk's current generation (the payload carries it when it is past 1, as the sweeper's re-queue does). */
function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/** The stored chunk plan, reduced to the documented fields; null when there is none yet. */
function parsePlan(planJson: string | null): PlannedChunk[] | null {
  if (planJson === null) return null;
  const raw = JSON.parse(planJson) as PlannedChunk[];
  return raw.map(({ index, startSample, endSample, reason }) => ({ index, startSample, endSample, reason }));
}

function toView(row: EpisodeRow, chunks: ChunkCounts): EpisodeView {
  return {
    id: row.id,
    title: row.title,
    status: row.status,
    error: row.error,
    source: { kind: row.sourceKind, url: row.sourceUrl },
    durationSec: row.durationSec,
    chunkSeconds: row.chunkSeconds,
    language: row.language,
    chunks,
    download: { attempts: row.fetchAttempts, lastError: row.fetchError, nextAttemptAt: row.status === "fetch_wait" ? iso(row.nextFetchAt) : null },
    rendition: {
      sourceUrl: row.sourceUrl,
      finalUrl: row.finalUrl,
      bytes: row.audioBytes,
      sha256: row.audioSha256,
      contentType: row.audioContentType,
      durationSec: row.durationSec,
    },
    timings: {
      createdAt: iso(row.createdAt)!,
      ingestStartedAt: iso(row.ingestStartedAt),
      transcribeStartedAt: iso(row.transcribeStartedAt),
      finishedAt: iso(row.finishedAt),
      wallMs: row.finishedAt === null ? null : row.finishedAt - row.createdAt,
    },
  };
}

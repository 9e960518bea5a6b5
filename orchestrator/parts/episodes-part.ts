/**
 * The episodes part: the ingest service (with episode links: origin, callback URL, identity), the
 * worker-event consumer, the feed poller, completion callbacks and host webhooks. The worker-event
 * consumer, the feed poller and the callback passes are singleton duties: they run only on the
 * leader, from `startPasses(fence)` on election to the stop it returns.
 * Ingests and stitches run under work claims (cluster/work-claims.ts), and the takeover pass
 * (episodes/work-takeover.ts) resumes, on every orchestrator, what a dead one left.
 */
import fs from "node:fs";
import path from "node:path";
import type { ChunkEvent, WireNames, WorkerBootFailed, WorkerEvent } from "../../contract/wire.ts";
import type { Fence } from "../cluster/fence.ts";
import type { Config } from "../config.ts";
import { DeliveryService } from "../delivery/delivery-service.ts";
import { WorkClaims } from "../cluster/work-claims.ts";
import { applyChunkEvents } from "../episodes/chunk-events.ts";
import { EpisodeService } from "../episodes/episode-service.ts";
import { finishEpisode } from "../episodes/finish-episode.ts";
import { takeoverPass } from "../episodes/work-takeover.ts";
import { NatsUploadStore } from "../episodes/upload-store.ts";
import { MAX_FETCH_RETRY_DELAY_MS } from "../ingest/fetch-retry.ts";
import { DEFAULT_FEED_FETCH } from "../feeds/feed-fetch.ts";
import { FeedService } from "../feeds/feed-service.ts";
import { FeedStore } from "../feeds/feed-store.ts";
import { registerSecret, type Logger } from "../log.ts";
import { PassRunner } from "../pass-runner.ts";
import { consumeChunkEvents } from "../queue/nats-work-queue.ts";
import { EpisodeLinks } from "../sources/episode-links.ts";
import { SourceStore } from "../sources/source-store.ts";
import { WebhookService } from "../sources/webhook-service.ts";
import { newSecret } from "../sources/webhook-signature.ts";
import { Closer } from "./closer.ts";
import type { QueuePart } from "./queue-part.ts";
import type { StorePart } from "./store-part.ts";

export interface EpisodesPart {
  episodes: EpisodeService;
  feeds: FeedService;
  feedStore: FeedStore;
  deliveries: DeliveryService;
  sources: SourceStore;
  webhooks: WebhookService;
  callbackSecret: string;
  /** This orchestrator's claims on ingests and stitches. */
  claims: WorkClaims;
  /**
   * Starts the download retries and the takeover pass (at once, then every TTL/2): what a previous
   * run of this data directory, or another orchestrator that died, left unfinished is resumed.
   */
  resume(): Promise<void>;
  /** Starts the worker-event consumer, the feed poller and the callback passes (their writes under `fence`); returns what stops them. */
  startPasses(fence?: Fence): () => Promise<void>;
  /** Drains the ingests in flight, then stops the event consumer. */
  close(): Promise<void>;
}

export async function openEpisodesPart(
  config: Config,
  deps: {
    store: StorePart;
    queue: QueuePart;
    names: WireNames;
    log: Logger;
    onQueued: () => void;
    /** Who this orchestrator is among several (cluster/instance-id.ts): the owner its work claims name. */
    instanceId: string;
    /** A worker said why it could not start (the fleet's boot-failure back-off). */
    onBootFailed: (e: WorkerBootFailed) => Promise<void>;
    publicUrl: () => string;
  },
): Promise<EpisodesPart> {
  const { store, queue, names, log } = deps;
  const closer = new Closer(log);
  return closer.guard(async () => {
    const links = new EpisodeLinks(store.database, { allowPrivateUrls: config.allowPrivateUrls });
    const claims = new WorkClaims(store.database, deps.instanceId, config.claimTtlSec * 1000, log.child({ component: "claims" }));
    const episodes = new EpisodeService({
      store: store.store,
      queue: queue.queue,
      ingest: {
        workDir: path.join(config.dataDir, "work"),
        chunkPadSec: config.chunkPadSec,
        fetch: {
          allowPrivate: config.allowPrivateUrls,
          maxBytes: config.maxAudioBytes,
          timeoutMs: config.fetchTimeoutSec * 1000,
          minRate: { bytesPerSec: config.fetchMinRate.bytesPerSec, windowMs: config.fetchMinRate.windowSec * 1000 },
        },
      },
      uploadDir: path.join(config.dataDir, "uploads"),
      uploadIdleMs: config.uploadIdleSec * 1000,
      // with NATS_URL another orchestrator may run the ingest: uploads are kept in NATS until it ends
      uploads: config.nats.url ? NatsUploadStore.on(queue.nc, names.uploadsBucket, queue.queue.resources.uploads) : undefined,
      defaultChunkSeconds: config.chunkSeconds,
      maxConcurrentIngests: config.tuning.maxConcurrentIngests,
      maxConcurrentDownloads: config.maxDownloads,
      maxConcurrentReceives: config.maxStreamedUploads,
      fetchRetry: {
        windowMs: config.fetchRetry.windowSec * 1000,
        baseDelayMs: config.fetchRetry.delaySec * 1000,
        maxDelayMs: MAX_FETCH_RETRY_DELAY_MS,
      },
      log,
      onQueued: deps.onQueued,
      links,
      claims,
    });
    const eventDeps = { store: store.store, queue: queue.queue, log, maxAttempts: config.maxAttempts, claims };
    // a pull batch of chunk events is applied in one transaction; boot failures go to the fleet
    const onWorkerEvents = async (batch: WorkerEvent[]): Promise<void> => {
      const chunkEvents = batch.filter((e): e is ChunkEvent => e.type !== "boot_failed");
      if (chunkEvents.length > 0) await applyChunkEvents(chunkEvents, eventDeps);
      for (const e of batch) {
        if (e.type !== "boot_failed") continue;
        log.debug("worker boot failure", { machineId: e.machineId, exitCode: e.exitCode, reason: e.reason });
        await deps.onBootFailed(e);
      }
    };
    // Worker events are applied by the leader alone (a duty started from startPasses): a shared
    // consumer pulled by several orchestrators would apply one chunk's events out of order (its
    // result before its claim), and the chunk would be re-queued as lost. One applier keeps each
    // chunk's events in the order the workers published them; the durable consumer keeps its place
    // across a change of leader. The loop survives any one event; should the loop itself fail (its
    // consumer gone), it is started again.
    const startEvents = (): (() => Promise<void>) => {
      const eventsAbort = new AbortController();
      const eventsLoop = (async () => {
        while (!eventsAbort.signal.aborted) {
          try {
            await consumeChunkEvents(queue.nc, names, onWorkerEvents, { signal: eventsAbort.signal, log });
          } catch (err) {
            log.error("worker events loop failed; starting it again", { error: err });
            await new Promise((r) => setTimeout(r, 1000));
          }
        }
      })();
      return async () => {
        eventsAbort.abort();
        await eventsLoop;
      };
    };
    closer.add(() => episodes.drain());
    // Download retries: a pass every second starts those whose back-off is over (at boot too).
    const fetchRetries = new PassRunner("download retries", () => episodes.retryDueFetches(), { intervalMs: 1000, timeoutMs: 60_000, log });
    // Takeover: every orchestrator looks for work whose claim expired (at boot too), twice per TTL.
    const takeovers = new PassRunner(
      "takeover",
      (signal) =>
        takeoverPass(
          {
            store: store.store,
            claims,
            episodes,
            finish: (id) => finishEpisode(id, eventDeps),
            maxIngests: config.tuning.maxConcurrentIngests,
            log,
          },
          signal,
        ),
      { intervalMs: Math.max(500, Math.floor(claims.ttlMs / 2)), timeoutMs: 120_000, log },
    );

    const feedStore = new FeedStore(store.database);
    const feeds = new FeedService({
      store: feedStore,
      episodes,
      fetch: { ...DEFAULT_FEED_FETCH, allowPrivate: config.allowPrivateUrls },
      maxInFlight: config.tuning.maxFeedFetches,
      maxItemAttempts: config.feedItemAttempts,
      log: log.child({ component: "feeds" }),
    });
    let fence: Fence | undefined;
    const feedRunner = new PassRunner("feed poller", (signal) => feeds.pass(signal, fence), {
      intervalMs: config.tuning.feedPollIntervalMs,
      timeoutMs: config.tuning.feedPollTimeoutMs,
      log,
    });
    const callbackSecret = await store.store.setSettingIfAbsent("callback_signing_secret", newSecret("standard")!);
    registerSecret(callbackSecret);
    const deliveries = new DeliveryService({
      database: store.database,
      secret: callbackSecret,
      publicUrl: deps.publicUrl,
      allowPrivateUrls: config.allowPrivateUrls,
      log: log.child({ component: "callbacks" }),
    });
    // Callbacks run when an episode finishes (its state event) and when the next retry is due; the
    // pass timer is the crash-safe backstop that finds what those missed.
    let retryTimer: NodeJS.Timeout | undefined;
    const deliveryRunner: PassRunner = new PassRunner(
      "callbacks",
      async (signal) => {
        const result = await deliveries.pass(signal, fence);
        const next = await deliveries.nextDueAt();
        clearTimeout(retryTimer);
        if (next !== null) retryTimer = setTimeout(() => deliveryRunner.wake(), Math.max(0, next - Date.now())).unref();
        return result;
      },
      { intervalMs: config.tuning.callbackIntervalMs, timeoutMs: config.tuning.callbackTimeoutMs, log },
    );
    const sources = new SourceStore(store.database);
    const webhooks = new WebhookService({ sources, episodes, feeds, feedStore, log: log.child({ component: "webhooks" }) });

    return {
      episodes,
      feeds,
      feedStore,
      deliveries,
      sources,
      webhooks,
      callbackSecret,
      claims,
      resume: async () => {
        // The data-dir lock proves this directory's previous run is dead: its claims are free now,
        // not a TTL from now (a restart resumes at once, as with one orchestrator).
        const ownerFile = path.join(config.dataDir, "claims-owner");
        const previous = fs.existsSync(ownerFile) ? fs.readFileSync(ownerFile, "utf8").trim() : "";
        fs.writeFileSync(ownerFile, claims.owner, { mode: 0o600 });
        if (previous && previous !== claims.owner) {
          const freed = await claims.releaseOwner(previous).catch((err: unknown) => {
            log.warn("could not release the previous run's work claims; they expire by themselves", { error: err });
            return 0;
          });
          if (freed > 0) log.info("released the previous run's work claims", { count: freed, previous });
        }
        // downloads waiting to retry resume on their schedule (the download-retries pass)
        fetchRetries.start();
        closer.add(() => fetchRetries.stop());
        takeovers.start();
        closer.add(() => takeovers.stop());
      },
      startPasses: (termFence) => {
        fence = termFence;
        const stopEvents = startEvents();
        feedRunner.start();
        deliveryRunner.start();
        const stopWaking = store.database.events.on("episode:transition", (e) => {
          if (e.to === "done" || e.to === "failed") deliveryRunner.wake();
        });
        return async () => {
          stopWaking();
          clearTimeout(retryTimer);
          await deliveryRunner.stop();
          await feedRunner.stop();
          await stopEvents();
        };
      },
      close: closer.close,
    };
  });
}

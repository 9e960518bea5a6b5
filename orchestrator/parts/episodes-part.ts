/**
 * The episodes part: the ingest service (with episode links: origin, callback URL, identity), the
 * worker-event consumer, the feed poller, completion callbacks and host webhooks. The consumer
 * runs from the start; the feed and callback passes start with `startPasses()` once the HTTP
 * server knows its URL.
 */
import path from "node:path";
import type { ChunkEvent, WireNames, WorkerBootFailed, WorkerEvent } from "../../contract/wire.ts";
import type { Config } from "../config.ts";
import { DeliveryService } from "../delivery/delivery-service.ts";
import { applyChunkEvents } from "../episodes/chunk-events.ts";
import { EpisodeService } from "../episodes/episode-service.ts";
import { finishEpisode } from "../episodes/finish-episode.ts";
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
  /** Resumes what a previous run left unfinished (ingests, transcribing and stitching episodes). */
  resume(): Promise<void>;
  /** Starts the feed poller and the callback passes; returns what stops them. */
  startPasses(): () => Promise<void>;
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
    /** A worker said why it could not start (the fleet's boot-failure back-off). */
    onBootFailed: (e: WorkerBootFailed) => Promise<void>;
    publicUrl: () => string;
  },
): Promise<EpisodesPart> {
  const { store, queue, names, log } = deps;
  const closer = new Closer(log);
  return closer.guard(async () => {
    const links = new EpisodeLinks(store.database, { allowPrivateUrls: config.allowPrivateUrls });
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
      // with NATS_URL another orchestrator may run the ingest: uploads are kept in NATS until it ends
      uploads: config.nats.url ? new NatsUploadStore(queue.queue.resources.uploads) : undefined,
      defaultChunkSeconds: config.chunkSeconds,
      maxConcurrentIngests: config.tuning.maxConcurrentIngests,
      maxConcurrentDownloads: config.maxDownloads,
      fetchRetry: {
        windowMs: config.fetchRetry.windowSec * 1000,
        baseDelayMs: config.fetchRetry.delaySec * 1000,
        maxDelayMs: MAX_FETCH_RETRY_DELAY_MS,
      },
      log,
      onQueued: deps.onQueued,
      links,
    });
    const eventsAbort = new AbortController();
    const eventDeps = { store: store.store, queue: queue.queue, log, maxAttempts: config.maxAttempts };
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
    // The loop survives any one event; should the loop itself fail (its consumer gone), it is started again.
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
    closer.add(async () => {
      eventsAbort.abort();
      await eventsLoop;
    });
    closer.add(() => episodes.drain());
    // Download retries: a pass every second starts those whose back-off is over (at boot too).
    const fetchRetries = new PassRunner("download retries", () => episodes.retryDueFetches(), { intervalMs: 1000, timeoutMs: 60_000, log });

    const feedStore = new FeedStore(store.database);
    const feeds = new FeedService({
      store: feedStore,
      episodes,
      fetch: { ...DEFAULT_FEED_FETCH, allowPrivate: config.allowPrivateUrls },
      maxInFlight: config.tuning.maxFeedFetches,
      maxItemAttempts: config.feedItemAttempts,
      log: log.child({ component: "feeds" }),
    });
    const feedRunner = new PassRunner("feed poller", (signal) => feeds.pass(signal), {
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
        const result = await deliveries.pass(signal);
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
      resume: async () => {
        // downloads waiting to retry resume on their schedule (the download-retries pass)
        const resumed = await episodes.resumeIngests();
        fetchRetries.start();
        closer.add(() => fetchRetries.stop());
        for (const ep of await store.store.episodesInStates(["transcribing", "stitching"])) {
          try {
            await episodes.republishUnclaimed(ep.id);
            await finishEpisode(ep.id, eventDeps);
          } catch (err) {
            // one episode must not keep the orchestrator from starting; the sweeper re-queues what it lost
            log.error("could not resume an episode", { episodeId: ep.id, error: err });
          }
        }
        if (resumed > 0) log.info("resumed ingests", { count: resumed });
      },
      startPasses: () => {
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
        };
      },
      close: closer.close,
    };
  });
}

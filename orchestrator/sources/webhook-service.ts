/**
 * Handles one webhook delivery: find the source by its URL token, verify the delivery by the
 * source's scheme, drop replays (same delivery id), adapt the host's payload, treat it as a hint
 * (re-read the item from the source's feed when it has one), and submit the episode once per
 * identity. Errors are typed so the HTTP layer maps them: unknown token 404, bad signature or
 * stale timestamp 401, malformed payload 400.
 */
import type { EpisodeService } from "../episodes/episode-service.ts";
import type { Logger } from "../log.ts";
import type { FeedService } from "../feeds/feed-service.ts";
import type { FeedStore } from "../feeds/feed-store.ts";
import { DuplicateEpisodeError, episodeIdentity } from "./episode-links.ts";
import { adaptPayload, PayloadError } from "./payload-adapters.ts";
import type { SourceStore } from "./source-store.ts";
import { verifyWebhook } from "./webhook-signature.ts";

export class UnknownSourceError extends Error {
  override name = "UnknownSourceError";
}

export interface WebhookOutcome {
  /** "queued": a job was created; "duplicate": this delivery or episode was seen; "ignored": not a publish event. */
  outcome: "queued" | "duplicate" | "ignored";
  episodeId: string | null;
  reason?: string | undefined;
}

export interface WebhookServiceDeps {
  sources: SourceStore;
  episodes: Pick<EpisodeService, "submitUrl">;
  feeds: Pick<FeedService, "findItem">;
  feedStore: Pick<FeedStore, "byUrl">;
  log: Logger;
  now?: () => number;
}

export class WebhookService {
  constructor(private readonly deps: WebhookServiceDeps) {}

  async handle(token: string, body: string, header: (name: string) => string | undefined): Promise<WebhookOutcome> {
    const now = (this.deps.now ?? Date.now)();
    const source = await this.deps.sources.byToken(token);
    if (!source) throw new UnknownSourceError("no webhook source has this URL");
    const { deliveryId } = verifyWebhook(source, body, header, now);

    if (deliveryId) {
      const earlier = await this.deps.sources.receipt(source.id, deliveryId);
      if (earlier) return { outcome: "duplicate", episodeId: earlier.episodeId, reason: "delivery already handled" };
    }

    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      throw new PayloadError("body is not valid JSON");
    }
    const adapted = adaptPayload(json);
    const outcome =
      adapted.kind === "ignore"
        ? { outcome: "ignored" as const, episodeId: null, reason: adapted.reason }
        : await this.submit(source, adapted.episode);

    // A Transistor episode still processing will be announced again: do not burn its delivery id.
    const retryLater = adapted.kind === "ignore" && adapted.reason === "audio_processing";
    if (deliveryId && !retryLater) {
      const raced = await this.deps.sources.recordReceipt({
        sourceId: source.id,
        deliveryId,
        episodeId: outcome.episodeId,
        outcome: outcome.outcome,
      });
      if (raced) return { outcome: "duplicate", episodeId: raced.episodeId, reason: "delivery already handled" };
    }
    this.deps.log.info("webhook handled", {
      sourceId: source.id,
      deliveryId,
      outcome: outcome.outcome,
      episodeId: outcome.episodeId,
      reason: outcome.reason,
    });
    return outcome;
  }

  private async submit(
    source: { id: string; feedUrl: string | null; callbackUrl: string | null },
    hint: {
      audioUrl: string | undefined;
      title: string | undefined;
      guid: string | undefined;
      feedUrl: string | undefined;
      language: string | undefined;
    },
  ): Promise<WebhookOutcome> {
    const feedUrl = source.feedUrl ?? hint.feedUrl;
    let { audioUrl, title, guid, language } = hint;
    if (source.feedUrl) {
      // The webhook is a hint; the feed is the authority for the item's guid and enclosure.
      try {
        const item = await this.deps.feeds.findItem(source.feedUrl, hint);
        if (item?.enclosureUrl) {
          audioUrl = item.enclosureUrl;
          guid = item.guid ?? guid;
          title = item.title ?? title;
          language = item.language ?? language;
        } else {
          this.deps.log.info("webhook item not in the feed yet; using the payload's audio URL", { sourceId: source.id });
        }
      } catch (err) {
        this.deps.log.warn("could not re-read the source's feed; using the payload's audio URL", { sourceId: source.id, error: err });
      }
    }
    if (!audioUrl) throw new PayloadError("payload has no audio URL");
    const registered = feedUrl ? await this.deps.feedStore.byUrl(feedUrl) : undefined;
    const identity = episodeIdentity({ feedKey: registered?.id ?? feedUrl, guid, enclosureUrl: audioUrl });
    try {
      const episode = await this.deps.episodes.submitUrl(audioUrl, {
        title,
        language,
        callbackUrl: source.callbackUrl ?? registered?.callbackUrl ?? undefined,
        origin: { kind: "webhook", identity, sourceId: source.id, feedId: registered?.id ?? null, guid: guid ?? null },
      });
      return { outcome: "queued", episodeId: episode.id };
    } catch (err) {
      if (err instanceof DuplicateEpisodeError)
        return { outcome: "duplicate", episodeId: err.existingEpisodeId, reason: "episode already submitted" };
      throw err;
    }
  }
}

/**
 * Where each episode came from and where its completion event goes, plus episode identity:
 * feed + guid, else the enclosure URL. The identity is claimed in the same transaction that
 * writes the episode row (EpisodeStore.createEpisode with the row `prepare` returns), so a
 * webhook and a feed poll racing for the same episode produce one job, never two, and a crash
 * can never leave an identity claimed by an episode that was never written.
 */
import { eq } from "drizzle-orm";
import { episodeLinks } from "../../db/schema.ts";
import type { SubmitOptions } from "../episodes/episode-service.ts";
import { checkUrl } from "../outbound/url-policy.ts";
import type { Database } from "../store/database.ts";

export type EpisodeLinkRow = typeof episodeLinks.$inferSelect;

/** What a feed or webhook knows about an episode it submits. */
export interface EpisodeOrigin {
  kind: "webhook" | "feed-new" | "feed-backfill";
  /** Episode identity; see `episodeIdentity`. */
  identity: string | null;
  feedId?: string | null | undefined;
  sourceId?: string | null | undefined;
  guid?: string | null | undefined;
}

/** The same episode was submitted before: no second job. */
export class DuplicateEpisodeError extends Error {
  override name = "DuplicateEpisodeError";
  constructor(
    readonly identity: string,
    readonly existingEpisodeId: string,
  ) {
    super(`episode ${identity} was already submitted as ${existingEpisodeId}`);
  }
}

/**
 * Identity of an episode: within a known feed (registered feed id, else the feed URL) by guid;
 * without a guid or feed, by the enclosure URL.
 */
export function episodeIdentity(input: {
  feedKey?: string | null | undefined;
  guid?: string | null | undefined;
  enclosureUrl?: string | null | undefined;
}): string | null {
  if (input.feedKey && input.guid) return `feed:${input.feedKey}#guid:${input.guid}`;
  if (input.enclosureUrl) return `url:${input.enclosureUrl}`;
  return null;
}

export class EpisodeLinks {
  constructor(
    private readonly database: Database,
    private readonly opts: { allowPrivateUrls: boolean; now?: () => number },
  ) {}

  /**
   * EpisodeService's `links.prepare`: checks the callback URL and returns the link row to write
   * with the episode (undefined when there is nothing to link). Throws BadInputError for a bad
   * callback URL, and DuplicateEpisodeError early when the identity is already taken (the
   * authoritative check is inside the episode's write transaction).
   */
  readonly prepare = async (episodeId: string, opts: SubmitOptions): Promise<EpisodeLinkRow | undefined> => {
    if (opts.callbackUrl) checkUrl(opts.callbackUrl, this.opts.allowPrivateUrls);
    if (!opts.callbackUrl && !opts.origin) return undefined;
    const origin = opts.origin;
    const row: EpisodeLinkRow = {
      episodeId,
      identity: origin?.identity ?? null,
      feedId: origin?.feedId ?? null,
      sourceId: origin?.sourceId ?? null,
      guid: origin?.guid ?? null,
      origin: origin?.kind ?? "api",
      callbackUrl: opts.callbackUrl ?? null,
      createdAt: (this.opts.now ?? Date.now)(),
    };
    if (row.identity) {
      const existing = await this.byIdentity(row.identity);
      if (existing) throw new DuplicateEpisodeError(row.identity, existing.episodeId);
    }
    return row;
  };

  async get(episodeId: string): Promise<EpisodeLinkRow | undefined> {
    return this.database.db.select().from(episodeLinks).where(eq(episodeLinks.episodeId, episodeId)).get();
  }

  async byIdentity(identity: string): Promise<EpisodeLinkRow | undefined> {
    return this.database.db.select().from(episodeLinks).where(eq(episodeLinks.identity, identity)).get();
  }
}

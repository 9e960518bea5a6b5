/**
 * A podcast RSS document reduced to what ingest needs, parsed with feedsmith (RSS 2.0 + iTunes +
 * Podcasting 2.0 namespaces). A DOCTYPE that declares entities is refused before parsing:
 * entity expansion in XML parsers has a history of CVEs and no podcast feed needs it.
 */
import { parseRssFeed } from "feedsmith";

export interface FeedEpisodeItem {
  guid: string | undefined;
  title: string | undefined;
  enclosureUrl: string | undefined;
  enclosureType: string | undefined;
  /** Epoch ms from pubDate, when it parses. */
  publishedAt: number | undefined;
  /** The item already links a transcript (podcast:transcript). */
  hasTranscript: boolean;
}

export interface FeedDocument {
  title: string | undefined;
  /** itunes:new-feed-url: the publisher says the feed moved. */
  newFeedUrl: string | undefined;
  podcastGuid: string | undefined;
  /** In document order (usually newest first). */
  items: FeedEpisodeItem[];
}

/** The body is not a usable RSS feed. */
export class FeedParseError extends Error {
  override name = "FeedParseError";
}

function isAudioEnclosure(type: string | undefined, url: string): boolean {
  if (!type) return true;
  const t = type.toLowerCase();
  return t.startsWith("audio/") || t.startsWith("video/") || t === "application/octet-stream" || /\.(mp3|m4a|aac|ogg|opus|wav|flac|mp4)(\?|$)/i.test(url);
}

export function parseFeedDocument(xml: string): FeedDocument {
  // the whole document, not a prefix: a DOCTYPE may follow a long comment or processing instruction
  if (/<!DOCTYPE[^>]*\[/i.test(xml) || /<!ENTITY/i.test(xml)) {
    throw new FeedParseError("feed declares a DOCTYPE with entities; refused");
  }
  let feed;
  try {
    feed = parseRssFeed(xml);
  } catch (err) {
    throw new FeedParseError(`not an RSS feed: ${(err as Error).message}`);
  }
  const items: FeedEpisodeItem[] = (feed.items ?? []).map((item) => {
    const enclosure = (item.enclosures ?? []).find((e) => e.url && isAudioEnclosure(e.type, e.url));
    const published = item.pubDate ? Date.parse(item.pubDate) : NaN;
    return {
      guid: item.guid?.value?.trim() || undefined,
      title: item.title?.trim() || undefined,
      enclosureUrl: enclosure?.url?.trim() || undefined,
      enclosureType: enclosure?.type,
      publishedAt: Number.isNaN(published) ? undefined : published,
      hasTranscript: (item.podcast?.transcripts ?? []).some((t) => Boolean(t.url)),
    };
  });
  return {
    title: feed.title?.trim() || undefined,
    newFeedUrl: feed.itunes?.newFeedUrl?.trim() || undefined,
    podcastGuid: feed.podcast?.guid,
    items,
  };
}

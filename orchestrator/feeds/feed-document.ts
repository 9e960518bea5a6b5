/**
 * A podcast RSS document reduced to what ingest needs, parsed with feedsmith (RSS 2.0 + iTunes +
 * Podcasting 2.0 namespaces). A DOCTYPE that declares entities is refused before parsing:
 * entity expansion in XML parsers has a history of CVEs and no podcast feed needs it.
 * Feeds are taken as hosts serve them: enclosure URLs may be relative (`episodes/1.mp3`) or
 * protocol-relative (`//traffic.libsyn.com/...`) and are resolved against the feed's own URL,
 * and the language comes from the item (`dc:language`, `xml:lang`) or else the channel.
 */
import { parseRssFeed } from "feedsmith";
import { normalizeLanguageTag } from "../episodes/language-tag.ts";

export interface FeedEpisodeItem {
  guid: string | undefined;
  title: string | undefined;
  enclosureUrl: string | undefined;
  enclosureType: string | undefined;
  /** Epoch ms from pubDate, when it parses. */
  publishedAt: number | undefined;
  /** The item already links a transcript (podcast:transcript). */
  hasTranscript: boolean;
  /** Canonical BCP 47 tag from the item itself, else the channel; undefined when neither says (or says garbage). */
  language?: string | undefined;
}

export interface FeedDocument {
  title: string | undefined;
  /** itunes:new-feed-url: the publisher says the feed moved. */
  newFeedUrl: string | undefined;
  podcastGuid: string | undefined;
  /** The channel's `<language>` (else `dc:language`), canonical BCP 47; undefined when absent or not a tag. */
  language: string | undefined;
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
  return (
    t.startsWith("audio/") || t.startsWith("video/") || t === "application/octet-stream" || /\.(mp3|m4a|aac|ogg|opus|wav|flac|mp4)(\?|$)/i.test(url)
  );
}

/**
 * An enclosure URL as an absolute http(s) URL: resolved against `base` (the URL the feed was read
 * from, after redirects) when there is one; a protocol-relative URL without a base gets https.
 * Returns the text unchanged when it cannot be resolved, so the submission refuses it with a reason.
 */
export function resolveEnclosureUrl(raw: string, base: string | undefined): string {
  try {
    if (base) return new URL(raw, base).toString();
    if (raw.startsWith("//")) return new URL(`https:${raw}`).toString();
    return new URL(raw).toString();
  } catch {
    return raw;
  }
}

/** Parses a feed; `baseUrl` (the feed's final URL) resolves relative enclosure URLs. */
export function parseFeedDocument(xml: string, baseUrl?: string): FeedDocument {
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
  const channelLanguage = firstTag(feed.language, ...(feed.dc?.languages ?? []));
  const items: FeedEpisodeItem[] = (feed.items ?? []).map((item) => {
    const enclosure = (item.enclosures ?? []).find((e) => e.url && isAudioEnclosure(e.type, e.url));
    const published = item.pubDate ? Date.parse(item.pubDate) : NaN;
    const enclosureUrl = enclosure?.url?.trim() || undefined;
    return {
      guid: item.guid?.value?.trim() || undefined,
      title: item.title?.trim() || undefined,
      enclosureUrl: enclosureUrl === undefined ? undefined : resolveEnclosureUrl(enclosureUrl, baseUrl),
      enclosureType: enclosure?.type,
      publishedAt: Number.isNaN(published) ? undefined : published,
      hasTranscript: (item.podcast?.transcripts ?? []).some((t) => Boolean(t.url)),
      language: firstTag(...(item.dc?.languages ?? []), item.xml?.lang) ?? channelLanguage,
    };
  });
  return {
    title: feed.title?.trim() || undefined,
    newFeedUrl: feed.itunes?.newFeedUrl?.trim() || undefined,
    podcastGuid: feed.podcast?.guid,
    language: channelLanguage,
    items,
  };
}

/** The first value that is a language tag, canonical; garbage values are passed over. */
function firstTag(...values: Array<string | undefined>): string | undefined {
  for (const v of values) {
    const tag = normalizeLanguageTag(v);
    if (tag) return tag;
  }
  return undefined;
}

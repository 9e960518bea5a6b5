/**
 * RSS auto-ingest through the real orchestrator (no workers) against a feed server on 127.0.0.1:
 * baseline + backfill, new items, conditional GET (304), gzip, 301 and itunes:new-feed-url moves,
 * podcast:transcript skipping, Retry-After backoff, size and redirect caps; plus the poller's pure
 * decisions (delays, item planning, fair release) as tables.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { after, before, describe, test } from "node:test";
import { DEFAULT_FEED_FETCH, fetchFeed, FeedFetchError } from "../orchestrator/feeds/feed-fetch.ts";
import { FeedParseError, parseFeedDocument } from "../orchestrator/feeds/feed-document.ts";
import { nextPollDelaySec, pickReleases, planItems, type PendingItem } from "../orchestrator/feeds/poll-plan.ts";
import type { Orchestrator } from "../orchestrator/orchestrator.ts";
import { api, programmableServer, silentWav, startStack, suiteCleanup, type RecordedRequest } from "./support/ingest-stack.ts";

interface Item {
  guid?: string;
  title: string;
  audio?: string;
  pubDate: Date;
  transcript?: boolean;
}

function rss(items: Item[], extra = ""): string {
  const body = items
    .map(
      (i) =>
        `<item><title>${i.title}</title>${i.guid ? `<guid isPermaLink="false">${i.guid}</guid>` : ""}<pubDate>${i.pubDate.toUTCString()}</pubDate>` +
        (i.audio ? `<enclosure url="${i.audio}" length="32044" type="audio/wav"/>` : "") +
        (i.transcript ? `<podcast:transcript url="https://example.com/t.vtt" type="text/vtt"/>` : "") +
        `</item>`,
    )
    .join("\n");
  return `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:podcast="https://podcastindex.org/namespace/1.0">
<channel><title>Test Show</title>${extra}
${body}
</channel></rss>`;
}

/** A feed endpoint with ETag/304 and gzip, like a well-behaved host. */
function serveFeed(getXml: () => string, served: { gzipped: number }) {
  return (req: RecordedRequest, res: import("node:http").ServerResponse) => {
    const xml = getXml();
    const etag = `"${Buffer.from(xml).length}-${xml.length % 997}"`;
    if (req.headers["if-none-match"] === etag) {
      res.writeHead(304, { etag }).end();
      return;
    }
    const gzip = String(req.headers["accept-encoding"] ?? "").includes("gzip");
    if (gzip) served.gzipped++;
    const body = gzip ? gzipSync(xml) : Buffer.from(xml);
    res.writeHead(200, { "content-type": "application/rss+xml", etag, ...(gzip ? { "content-encoding": "gzip" } : {}) }).end(body);
  };
}

let orch: Orchestrator;
let audioBase: string;
const day = 24 * 3600 * 1000;

async function feedEpisodes(feedId: string): Promise<string[]> {
  const res = await api(orch.url, "GET", `/v1/feeds/${feedId}`);
  return res.body.entries.filter((e: { state: string }) => e.state === "queued").map((e: { episodeId: string }) => e.episodeId);
}

async function episodeCount(): Promise<number> {
  return (await api(orch.url, "GET", "/v1/episodes?limit=500")).body.episodes.length;
}

describe("feeds through the orchestrator", () => {
  const cleanup = suiteCleanup();
  after(() => cleanup.run());
  before(async () => {
    orch = await startStack(cleanup);
    audioBase = (await programmableServer(cleanup, (_req, res) => res.writeHead(200, { "content-type": "audio/wav" }).end(silentWav(1)))).url;
  });

  test("backfill 2 of 3 → 2 jobs; a new item → 1 more; 304 → none; gzip and validators used", async (t) => {
    const now = Date.now();
    const items: Item[] = [1, 2, 3].map((n) => ({
      guid: `ep-${n}`,
      title: `Episode ${n}`,
      audio: `${audioBase}/ep${n}.wav`,
      pubDate: new Date(now - (4 - n) * day),
    }));
    const served = { gzipped: 0 };
    const feed = await programmableServer(
      t,
      serveFeed(() => rss([...items].reverse()), served),
    );
    const before = await episodeCount();

    const added = await api(orch.url, "POST", "/v1/feeds", { url: `${feed.url}/feed.xml`, backfill: 2 });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    assert.equal(added.body.poll.queued, 2);
    assert.equal(added.body.feed.title, "Test Show");
    const id = added.body.feed.id;
    const first = await feedEpisodes(id);
    assert.equal(first.length, 2);
    assert.equal(await episodeCount(), before + 2);
    const titles = await Promise.all(first.map(async (e) => (await api(orch.url, "GET", `/v1/episodes/${e}`)).body.title));
    assert.deepEqual(titles.sort(), ["Episode 2", "Episode 3"], "the newest two are the backfill");

    items.push({ guid: "ep-4", title: "Episode 4", audio: `${audioBase}/ep4.wav`, pubDate: new Date() });
    const second = await api(orch.url, "POST", `/v1/feeds/${id}/poll`);
    assert.equal(second.body.status, "ok");
    assert.equal(second.body.new, 1);
    assert.equal(second.body.queued, 1);
    assert.equal(await episodeCount(), before + 3);

    const third = await api(orch.url, "POST", `/v1/feeds/${id}/poll`);
    assert.equal(third.body.status, "not_modified");
    assert.equal(third.body.queued, 0);
    assert.equal(await episodeCount(), before + 3);
    assert.ok(feed.requests.at(-1)!.headers["if-none-match"], "the last poll was conditional");
    assert.equal(served.gzipped, 2, "both full responses went gzip-compressed");

    const list = await api(orch.url, "GET", "/v1/feeds");
    const row = list.body.feeds.find((f: { id: string }) => f.id === id);
    assert.equal(row.items.queued, 3);
    assert.equal(row.items.old, 1);
    assert.equal(row.lastStatus, "304");

    assert.equal((await api(orch.url, "DELETE", `/v1/feeds/${id}`)).status, 200);
    assert.equal((await api(orch.url, "POST", `/v1/feeds/${id}/poll`)).status, 404);
  });

  test("a 301 moves the feed; so does itunes:new-feed-url", async (t) => {
    const items: Item[] = [{ guid: "m-1", title: "Moved 1", audio: `${audioBase}/m1.wav`, pubDate: new Date() }];
    const served = { gzipped: 0 };
    const handler = serveFeed(() => rss(items), served);
    const feed = await programmableServer(t, (req, res) => {
      if (req.url === "/old.xml") res.writeHead(301, { location: "/new.xml" }).end();
      else if (req.url === "/new.xml") handler(req, res);
      else if (req.url === "/announced.xml")
        res
          .writeHead(200, { "content-type": "application/rss+xml" })
          .end(rss(items, `<itunes:new-feed-url>${feed.url}/final.xml</itunes:new-feed-url>`));
      else res.writeHead(404).end();
    });
    const added = await api(orch.url, "POST", "/v1/feeds", { url: `${feed.url}/old.xml` });
    assert.equal(added.status, 201);
    assert.equal(added.body.feed.url, `${feed.url}/new.xml`);
    assert.equal(added.body.poll.movedTo, `${feed.url}/new.xml`);
    assert.equal(added.body.poll.queued, 0, "items present when the feed was added are not taken without --backfill");
    const again = await api(orch.url, "POST", `/v1/feeds/${added.body.feed.id}/poll`);
    assert.equal(feed.requests.at(-1)!.url, "/new.xml", "the next poll goes straight to the new URL");
    assert.equal(again.body.status, "not_modified");

    const announced = await api(orch.url, "POST", "/v1/feeds", { url: `${feed.url}/announced.xml` });
    assert.equal(announced.body.feed.url, `${feed.url}/final.xml`);
  });

  test("items with a podcast:transcript are skipped unless the feed re-transcribes", async (t) => {
    const now = Date.now();
    const items: Item[] = [
      { guid: "tr-1", title: "Has transcript", audio: `${audioBase}/t1.wav`, pubDate: new Date(now - day), transcript: true },
      { guid: "tr-2", title: "No transcript", audio: `${audioBase}/t2.wav`, pubDate: new Date(now - 2 * day) },
    ];
    const feed = await programmableServer(t, (_req, res) => res.writeHead(200, { "content-type": "application/rss+xml" }).end(rss(items)));
    const plain = await api(orch.url, "POST", "/v1/feeds", { url: `${feed.url}/a.xml`, backfill: 5 });
    assert.equal(plain.body.poll.queued, 1);
    assert.equal(plain.body.poll.skipped, 1);
    const redo = await api(orch.url, "POST", "/v1/feeds", { url: `${feed.url}/b.xml`, backfill: 5, retranscribe: true });
    assert.equal(redo.body.poll.queued, 2, "a re-transcribing feed takes both");
  });

  test("errors back off and honour Retry-After", async (t) => {
    const feed = await programmableServer(t, (_req, res) => res.writeHead(503, { "retry-after": "7200" }).end("busy"));
    const t0 = Date.now();
    const added = await api(orch.url, "POST", "/v1/feeds", { url: `${feed.url}/busy.xml`, intervalSec: 600 });
    assert.equal(added.body.poll.status, "error");
    assert.equal(added.body.poll.httpStatus, 503);
    assert.ok(Date.parse(added.body.poll.nextPollAt) >= t0 + 7200 * 1000, "Retry-After pushes the next poll out");
    assert.equal(added.body.feed.errorCount, 1);
    assert.match(added.body.feed.lastError, /503/);
  });
});

describe("feed fetching limits", () => {
  const opts = { ...DEFAULT_FEED_FETCH, allowPrivate: true };

  test("size cap applies to the decompressed body; redirect loops stop at the cap", async (t) => {
    const big = "<rss>" + " ".repeat(200_000) + "</rss>";
    const server = await programmableServer(t, (req, res) => {
      if (req.url === "/bomb") res.writeHead(200, { "content-encoding": "gzip" }).end(gzipSync(big));
      else if (req.url === "/loop") res.writeHead(302, { location: "/loop" }).end();
      else res.writeHead(404).end();
    });
    await assert.rejects(
      fetchFeed(`${server.url}/bomb`, { etag: null, lastModified: null }, { ...opts, maxBytes: 50_000 }),
      (e) => e instanceof FeedFetchError && /limit/.test(e.message),
    );
    await assert.rejects(
      fetchFeed(`${server.url}/loop`, { etag: null, lastModified: null }, opts),
      (e) => e instanceof FeedFetchError && /redirects/.test(e.message),
    );
    await assert.rejects(
      fetchFeed(`${server.url}/bomb`, { etag: null, lastModified: null }, { ...opts, allowPrivate: false }),
      (e) => e instanceof FeedFetchError && !e.retryable,
    );
  });

  test("entity declarations are refused; non-RSS is a parse error", () => {
    assert.throws(
      () => parseFeedDocument(`<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "x">]><rss version="2.0"><channel><title>&a;</title></channel></rss>`),
      FeedParseError,
    );
    assert.throws(() => parseFeedDocument("<html><body>hi</body></html>"), FeedParseError);
  });
});

describe("poll decisions (pure)", () => {
  test("next poll delay", () => {
    const ok = { ok: true, errorCount: 0, maxAgeSec: undefined, retryAfterSec: undefined };
    assert.equal(nextPollDelaySec(900, ok), 900);
    assert.equal(nextPollDelaySec(900, { ...ok, maxAgeSec: 3600 }), 3600, "Cache-Control max-age stretches the interval");
    assert.equal(nextPollDelaySec(900, { ...ok, maxAgeSec: 60 }), 900, "but never shortens it");
    assert.equal(nextPollDelaySec(900, { ...ok, ok: false, errorCount: 1 }), 1800);
    assert.equal(nextPollDelaySec(900, { ...ok, ok: false, errorCount: 3 }), 7200);
    assert.equal(nextPollDelaySec(900, { ...ok, ok: false, errorCount: 30 }), 24 * 3600, "backoff is capped at a day");
    assert.equal(nextPollDelaySec(900, { ...ok, retryAfterSec: 5000 }), 5000);
  });

  test("plan: baseline takes only the newest N eligible; later unseen items are new", () => {
    const at = (d: number) => Date.UTC(2026, 0, d);
    const item = (guid: string, d: number, extra: object = {}) => ({
      guid,
      title: guid,
      enclosureUrl: `https://h/${guid}.mp3`,
      enclosureType: "audio/mpeg",
      publishedAt: at(d),
      hasTranscript: false,
      ...extra,
    });
    const policy = { baselineAt: null, addedAt: at(10), backfill: 2, retranscribe: false };
    const first = planItems(
      policy,
      [item("a", 1), item("b", 3), item("c", 2, { hasTranscript: true }), item("d", 4, { enclosureUrl: undefined })],
      new Set(),
    );
    assert.deepEqual(
      first.map((p) => [p.identity, p.kind, p.state]),
      [
        ["guid:a", "backfill", "pending"],
        ["guid:b", "backfill", "pending"],
        ["guid:c", "old", "skipped"],
        ["guid:d", "old", "skipped"],
      ],
    );
    const later = planItems({ ...policy, baselineAt: at(10) }, [item("e", 11), item("a", 1), item("z", 1)], new Set(["guid:a"]));
    assert.deepEqual(
      later.map((p) => [p.identity, p.kind, p.state]),
      [
        ["guid:e", "new", "pending"],
        ["guid:z", "old", "old"],
      ],
    );
  });

  test("release: new before backfill, and backfill shared fairly across feeds", () => {
    const p = (id: string, feedId: string, kind: "new" | "backfill", publishedAt: number, discoveredAt = 0): PendingItem => ({
      id,
      feedId,
      kind,
      publishedAt,
      discoveredAt,
    });
    const pending = [
      ...Array.from({ length: 50 }, (_, i) => p(`big${i}`, "big", "backfill", 1000 - i)),
      p("small1", "small", "backfill", 500),
      p("small2", "small", "backfill", 400),
      p("fresh", "small", "new", 2000, 5),
    ];
    assert.deepEqual(
      pickReleases(pending, new Map(), 4).map((x) => x.id),
      ["fresh", "big0", "big1", "small1"],
    );
    assert.deepEqual(
      pickReleases(pending, new Map([["big", 3]]), 3).map((x) => x.id),
      ["fresh", "small1", "small2"],
      "a busy feed waits its turn",
    );
    assert.deepEqual(pickReleases(pending, new Map(), 0), []);
  });
});

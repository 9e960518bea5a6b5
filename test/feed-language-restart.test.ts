/**
 * A feed item's language is stored with the item (feed_items.language), so pending items released
 * after a restart go out with the feed's language even when the feed cannot be read any more.
 * Real orchestrator restarted on the same data directory.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { parseConfig } from "../orchestrator/config.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../orchestrator/orchestrator.ts";
import { rememberToken } from "./support/auth.ts";
import { api, programmableServer, silentWav, suiteCleanup, waitFor } from "./support/ingest-stack.ts";

const cleanup = suiteCleanup();
after(() => cleanup.run());
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-feedlang-"));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

async function start(): Promise<Orchestrator> {
  const config = parseConfig(
    { PODFLEET_ALLOW_PRIVATE_URLS: "1", PODFLEET_MAX_MACHINES: "0", PODFLEET_LOG_LEVEL: "silent" },
    { dataDir, port: 0, host: "127.0.0.1" },
  );
  const orch = await startOrchestrator(config, createLogger("silent"));
  rememberToken(orch.url, orch.adminToken);
  return orch;
}

test("after a restart, pending feed items are released with the feed's language, without reading the feed again", async () => {
  const day = 24 * 3600 * 1000;
  const items = [1, 2, 3, 4, 5, 6].map((n) => ({ n, date: new Date(Date.now() - n * day) }));
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Nachrichten</title><language>de</language>` +
    items
      .map(
        (i) =>
          `<item><title>Folge ${i.n}</title><guid>folge-${i.n}</guid><pubDate>${i.date.toUTCString()}</pubDate><enclosure url="audio/${i.n}.wav" type="audio/wav"/></item>`,
      )
      .join("") +
    `</channel></rss>`;
  let feedDown = false;
  const server = await programmableServer(cleanup, (req, res) => {
    if (req.url === "/feed.xml") {
      if (feedDown) return void res.writeHead(500).end();
      if (req.headers["if-none-match"] === '"v1"') return void res.writeHead(304, { etag: '"v1"' }).end();
      return void res.writeHead(200, { "content-type": "application/rss+xml", etag: '"v1"' }).end(xml);
    }
    // the four newest fail at once (not in flight any more); the two oldest have audio
    const n = Number(/audio\/(\d)\.wav/.exec(req.url)?.[1]);
    if (n <= 4) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "audio/wav" }).end(silentWav(1));
  });

  let orch = await start();
  const added = await api(orch.url, "POST", "/v1/feeds", { url: `${server.url}/feed.xml`, backfill: 6 });
  assert.equal(added.status, 201, JSON.stringify(added.body));
  const feedId = added.body.feed.id as string;
  const entries = async () =>
    (await api(orch.url, "GET", `/v1/feeds/${feedId}`)).body.entries as Array<{ title: string; state: string; episodeId: string | null }>;
  const first = await entries();
  assert.equal(first.filter((e) => e.state === "queued").length, 4, "four released (the feeds' in-flight budget)");
  assert.equal(first.filter((e) => e.state === "pending").length, 2);
  await orch.close();

  feedDown = true; // from now on the feed answers 500: the languages must come from the database
  orch = await start();
  cleanup.after(() => orch.close());
  // the four failed episodes free the budget; the next pass releases the two pending items
  const released = await waitFor(
    "the two pending items released after the restart",
    async () => {
      const queued = (await entries()).filter((e) => e.state === "queued");
      return queued.length === 6 ? queued : undefined;
    },
    60_000,
  );
  for (const e of released.filter((x) => x.title === "Folge 5" || x.title === "Folge 6")) {
    assert.equal((await api(orch.url, "GET", `/v1/episodes/${e.episodeId}`)).body.language, "de", e.title);
  }
});

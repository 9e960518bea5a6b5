/**
 * Transient vs permanent downloads through the real orchestrator (embedded nats-server, libSQL,
 * real HTTP servers on 127.0.0.1): a 500 or 429 is retried with back-off (Retry-After honoured)
 * and the episode ends done, for URL, webhook and feed episodes; a 404 fails at once; the
 * window is bounded; a restart in the middle of a back-off resumes it; `jobs retry` downloads a
 * failed download again; a feed item whose episode failed is run again by later polls up to the
 * limit and the feed view says so; an upload is not held behind trickling downloads. Plus the
 * pure decisions (back-off, feed item retries) as tables.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import type http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parseConfig } from "../orchestrator/config.ts";
import { decideFetchRetry } from "../orchestrator/ingest/fetch-retry.ts";
import { failedItemAction } from "../orchestrator/feeds/poll-plan.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../orchestrator/orchestrator.ts";
import { rememberToken } from "./support/auth.ts";
import { runCli } from "./support/cli.ts";
import { startFleetStack } from "./support/fleet-stack.ts";
import { api, programmableServer, silentWav, startStack, suiteCleanup, waitFor, type CleanupContext } from "./support/ingest-stack.ts";

type Reply = (res: http.ServerResponse) => void;
const ok: Reply = (res) => res.writeHead(200, { "content-type": "audio/wav" }).end(silentWav(1));
const status =
  (code: number, headers: Record<string, string> = {}): Reply =>
  (res) =>
    res.writeHead(code, { "content-type": "text/plain", ...headers }).end(`HTTP ${code}`);

/**
 * An audio host whose answers per path follow a script (the last answer repeats); every request
 * is recorded with the time it arrived.
 */
async function scriptedHost(t: CleanupContext) {
  const scripts = new Map<string, Reply[]>();
  const hits: Array<{ path: string; at: number }> = [];
  const server = await programmableServer(t, (req, res) => {
    const p = new URL(req.url, "http://x").pathname;
    hits.push({ path: p, at: Date.now() });
    const script = scripts.get(p) ?? [status(404)];
    const n = hits.filter((h) => h.path === p).length;
    script[Math.min(n, script.length) - 1]!(res);
  });
  return {
    url: (p: string) => `${server.url}${p}`,
    script: (p: string, replies: Reply[]) => void scripts.set(p, replies),
    hits: (p: string) => hits.filter((h) => h.path === p),
  };
}

async function episode(orch: Orchestrator, id: string) {
  return (await api(orch.url, "GET", `/v1/episodes/${id}`)).body;
}

/** Waits until the episode is in one of `states` (or terminal); returns its view. */
async function settles(orch: Orchestrator, id: string, states: string[], timeoutMs = 90_000) {
  return waitFor(
    `episode ${id} to reach ${states.join("/")}`,
    async () => {
      const v = await episode(orch, id);
      return states.includes(v.status) || ["done", "failed", "cancelled"].includes(v.status) ? v : undefined;
    },
    timeoutMs,
  );
}

async function submitUrl(orch: Orchestrator, audioUrl: string): Promise<string> {
  const res = await api(orch.url, "POST", "/v1/episodes", { audioUrl, title: "retry" });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  return res.body.id;
}

function rss(items: Array<{ guid: string; audio: string }>): string {
  const now = Date.now();
  return `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Flaky Show</title>
${items.map((i, n) => `<item><title>${i.guid}</title><guid isPermaLink="false">${i.guid}</guid><pubDate>${new Date(now - (n + 1) * 3600_000).toUTCString()}</pubDate><enclosure url="${i.audio}" length="32044" type="audio/wav"/></item>`).join("\n")}
</channel></rss>`;
}

describe("download retries, with workers (episodes end done)", () => {
  const cleanup = suiteCleanup();
  after(() => cleanup.run());
  let orch: Orchestrator;
  let host: Awaited<ReturnType<typeof scriptedHost>>;
  const cli = (args: string[]) => runCli(args, { PODFLEET_URL: orch.url, PODFLEET_DATA_DIR: orch.config.dataDir }, 60_000);
  before(async () => {
    orch = await startFleetStack(cleanup, {
      PODFLEET_ENGINE: "synthetic",
      PODFLEET_MAX_MACHINES: "1",
      PODFLEET_IDLE_TIMEOUT_SEC: "120",
      PODFLEET_CHUNK_SECONDS: "30",
      PODFLEET_RATE_LIMIT_PER_MIN: "0",
      PODFLEET_FETCH_RETRY_DELAY_SEC: "0.3",
      PODFLEET_FETCH_RETRY_WINDOW_SEC: "60",
      PODFLEET_FEED_ITEM_ATTEMPTS: "3",
    });
    host = await scriptedHost(cleanup);
  });

  test("a URL episode whose host answers 500 then 200 waits, downloads again, and ends done", async () => {
    host.script("/flaky.wav", [status(500), ok]);
    const id = await submitUrl(orch, host.url("/flaky.wav"));
    const waiting = await settles(orch, id, ["fetch_wait"], 20_000);
    if (waiting.status === "fetch_wait") {
      assert.equal(waiting.download.attempts, 1);
      assert.match(waiting.download.lastError, /500/);
      assert.ok(waiting.download.nextAttemptAt, "the next try is shown");
    }
    const done = await settles(orch, id, ["done"]);
    assert.equal(done.status, "done", done.error);
    assert.equal(done.download.attempts, 1, "one failed attempt, kept as history");
    const hits = host.hits("/flaky.wav");
    assert.equal(hits.length, 2);
    assert.ok(hits[1]!.at - hits[0]!.at >= 150, `retried ${hits[1]!.at - hits[0]!.at} ms later: at least half the 300 ms base delay`);
  });

  test("429 with Retry-After: the second request comes no earlier than it says", async () => {
    host.script("/busy.wav", [status(429, { "retry-after": "2" }), ok]);
    const id = await submitUrl(orch, host.url("/busy.wav"));
    const done = await settles(orch, id, ["done"]);
    assert.equal(done.status, "done", done.error);
    const hits = host.hits("/busy.wav");
    assert.equal(hits.length, 2);
    assert.ok(hits[1]!.at - hits[0]!.at >= 2000, `second request ${hits[1]!.at - hits[0]!.at} ms after the 429`);
  });

  test("404 fails at once, without a retry", async () => {
    host.script("/gone.wav", [status(404), ok]);
    const id = await submitUrl(orch, host.url("/gone.wav"));
    const failed = await settles(orch, id, ["failed"], 20_000);
    assert.equal(failed.status, "failed");
    assert.match(failed.error, /404/);
    assert.equal(failed.download.attempts, 0, "no transient failure counted");
    assert.equal(failed.download.nextAttemptAt, null);
    // failed is terminal: the retry pass only takes episodes in fetch_wait
    assert.equal(host.hits("/gone.wav").length, 1);
  });

  test("a webhook episode whose host answers 503 then 200 ends done", async () => {
    host.script("/hooked.wav", [status(503), ok]);
    const src = await api(orch.url, "POST", "/v1/sources", { name: "flaky-host", scheme: "token" });
    assert.equal(src.status, 201, JSON.stringify(src.body));
    const hook = await api(src.body.url, "POST", "", { event: "episodePublished", id: "w1", title: "Hooked", audioUrl: host.url("/hooked.wav") });
    assert.equal(hook.body.outcome, "queued", JSON.stringify(hook.body));
    const done = await settles(orch, hook.body.episodeId, ["done"]);
    assert.equal(done.status, "done", done.error);
    assert.equal(host.hits("/hooked.wav").length, 2);
  });

  test("a feed episode whose host answers 500 then 200 ends done", async (t) => {
    host.script("/feed-flaky.wav", [status(500), ok]);
    const feed = await programmableServer(t, (_req, res) =>
      res.writeHead(200, { "content-type": "application/rss+xml" }).end(rss([{ guid: "flaky-1", audio: host.url("/feed-flaky.wav") }])),
    );
    const added = await api(orch.url, "POST", "/v1/feeds", { url: `${feed.url}/feed.xml`, backfill: 1 });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const view = await api(orch.url, "GET", `/v1/feeds/${added.body.feed.id}`);
    const entry = view.body.entries.find((e: { guid: string }) => e.guid === "flaky-1");
    assert.equal(entry.state, "queued");
    const done = await settles(orch, entry.episodeId, ["done"]);
    assert.equal(done.status, "done", done.error);
    assert.equal(host.hits("/feed-flaky.wav").length, 2);
  });

  test("jobs retry on an episode that failed at download downloads it again", async () => {
    host.script("/fixed-later.wav", [status(404)]);
    const id = await submitUrl(orch, host.url("/fixed-later.wav"));
    assert.equal((await settles(orch, id, ["failed"], 20_000)).status, "failed");
    host.script("/fixed-later.wav", [status(404), ok]);
    const retry = await cli(["jobs", "retry", id]);
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stdout, new RegExp(`retrying ${id}: downloading .*fixed-later.wav again`));
    const done = await settles(orch, id, ["done"]);
    assert.equal(done.status, "done", done.error);
    assert.equal(done.error, null);
    assert.equal(host.hits("/fixed-later.wav").length, 2);
  });

  test("a feed item whose episode failed is run again by later polls, up to the limit; the feed view says so", async (t) => {
    host.script("/never.wav", [status(404)]);
    host.script("/second-time.wav", [status(404)]);
    const feed = await programmableServer(t, (_req, res) =>
      res.writeHead(200, { "content-type": "application/rss+xml" }).end(
        rss([
          { guid: "never", audio: host.url("/never.wav") },
          { guid: "second-time", audio: host.url("/second-time.wav") },
        ]),
      ),
    );
    const added = await api(orch.url, "POST", "/v1/feeds", { url: `${feed.url}/feed.xml`, backfill: 2 });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const feedId: string = added.body.feed.id;
    const entries = async () => {
      const v = (await api(orch.url, "GET", `/v1/feeds/${feedId}`)).body;
      return Object.fromEntries(v.entries.map((e: { guid: string }) => [e.guid, e])) as Record<string, any>;
    };
    const entriesWhen = (what: string, pred: (e: Record<string, any>) => boolean) =>
      waitFor(
        what,
        async () => {
          const e = await entries();
          return pred(e) ? e : undefined;
        },
        60_000,
      );

    let e = await entriesWhen(
      "both items' episodes to fail",
      (x) => x.never?.episodeStatus === "failed" && x["second-time"]?.episodeStatus === "failed",
    );
    for (const guid of ["never", "second-time"]) {
      assert.equal(e[guid].retry, "will_retry", guid);
      assert.equal(e[guid].attempts, 1);
      assert.match(e[guid].lastError, /404/);
    }
    const shown = await cli(["feeds", "show", feedId]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /failed, will retry \(1\/3\)/);
    assert.match(shown.stdout, /404/);

    // the host fixes one file; the next poll runs both again
    host.script("/second-time.wav", [status(404), ok]);
    const poll2 = await api(orch.url, "POST", `/v1/feeds/${feedId}/poll`, {});
    assert.equal(poll2.body.queued, 2, JSON.stringify(poll2.body));
    const fixedEpisode = e["second-time"].episodeId;
    assert.equal((await settles(orch, fixedEpisode, ["done"])).status, "done");
    e = await entriesWhen("the second run of the other to fail", (x) => x.never.episodeStatus === "failed");
    assert.equal(e.never.attempts, 2);
    assert.equal(e.never.retry, "will_retry");
    assert.deepEqual([e["second-time"].attempts, e["second-time"].retry, e["second-time"].episodeStatus], [2, null, "done"]);

    // third and last run of the other one; then the poller gives up on it
    await api(orch.url, "POST", `/v1/feeds/${feedId}/poll`, {});
    await entriesWhen("the third run to fail", (x) => x.never.episodeStatus === "failed" && host.hits("/never.wav").length === 3);
    await api(orch.url, "POST", `/v1/feeds/${feedId}/poll`, {});
    e = await entries();
    assert.deepEqual([e.never.state, e.never.retry, e.never.attempts], ["failed", "gave_up", 3]);
    assert.match(e.never.reason, /gave up after 3 attempts: .*404/);
    assert.equal(host.hits("/never.wav").length, 3, "no fourth run");
    const list = (await api(orch.url, "GET", "/v1/feeds")).body.feeds.find((f: { id: string }) => f.id === feedId);
    assert.equal(list.items.failed, 1);
    const shownAgain = await cli(["feeds", "show", feedId]);
    assert.match(shownAgain.stdout, /failed, gave up \(3\/3\)/);
  });
});

describe("download retries, without workers", () => {
  test("past the window the episode fails with the last reason and the number of attempts", async (t) => {
    const orch = await startStack(t, { PODFLEET_FETCH_RETRY_DELAY_SEC: "0.2", PODFLEET_FETCH_RETRY_WINDOW_SEC: "1.5" });
    const host = await scriptedHost(t);
    host.script("/down.wav", [status(502)]);
    const id = await submitUrl(orch, host.url("/down.wav"));
    const failed = await settles(orch, id, ["failed"], 30_000);
    assert.equal(failed.status, "failed");
    const attempts = host.hits("/down.wav").length;
    assert.ok(attempts >= 2, `retried before giving up (${attempts} attempts)`);
    assert.equal(failed.download.attempts, attempts);
    assert.match(failed.error, new RegExp(`^gave up after ${attempts} attempts over [0-9.]+ min: .*502`));
    const hits = host.hits("/down.wav");
    // every try was scheduled inside the 1.5 s window; the pass that starts it runs every second
    const span = hits.at(-1)!.at - hits[0]!.at;
    assert.ok(span <= 1500 + 1000 + 1500, `no try started well past the window (last one ${span} ms after the first)`);
  });

  test("a restart in the middle of a back-off resumes it", async (t) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-retry-restart-"));
    t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    const config = parseConfig(
      {
        PODFLEET_ALLOW_PRIVATE_URLS: "1",
        PODFLEET_MAX_MACHINES: "0",
        PODFLEET_LOG_LEVEL: "silent",
        PODFLEET_CHUNK_SECONDS: "30",
        PODFLEET_FETCH_RETRY_DELAY_SEC: "12",
      },
      { dataDir, port: 0, host: "127.0.0.1" },
    );
    const host = await scriptedHost(t);
    host.script("/later.wav", [status(500), ok]);
    let orch = await startOrchestrator(config, createLogger("silent"));
    rememberToken(orch.url, orch.adminToken);
    let closed = false;
    t.after(async () => {
      if (!closed) await orch.close();
    });
    const id = await submitUrl(orch, host.url("/later.wav"));
    const waiting = await settles(orch, id, ["fetch_wait"], 20_000);
    assert.equal(waiting.status, "fetch_wait");
    const due = Date.parse(waiting.download.nextAttemptAt);
    await orch.close();
    closed = true;

    orch = await startOrchestrator(config, createLogger("silent"));
    closed = false;
    rememberToken(orch.url, orch.adminToken);
    // the back-off is 6-12 s, longer than a restart takes: it is still waiting, on the same schedule
    const after = await episode(orch, id);
    assert.ok(Date.now() < due, "restarted before the retry was due");
    assert.deepEqual(
      [after.status, after.download.attempts, after.download.nextAttemptAt],
      ["fetch_wait", 1, waiting.download.nextAttemptAt],
      "the schedule survived the restart",
    );
    assert.equal(host.hits("/later.wav").length, 1, "nothing fetched at boot");
    const ingested = await settles(orch, id, ["transcribing"], 30_000);
    assert.equal(ingested.status, "transcribing", ingested.error);
    const hits = host.hits("/later.wav");
    assert.equal(hits.length, 2);
    assert.ok(hits[1]!.at >= due, `the retry waited for its time (${due - hits[1]!.at} ms early)`);
  });

  test("an upload is not held behind two trickling downloads", async (t) => {
    // the minimum-rate abort is off: the slots alone must keep the upload moving
    const orch = await startStack(t, { PODFLEET_MAX_DOWNLOADS: "2", PODFLEET_FETCH_MIN_BYTES_PER_SEC: "0" });
    const trickles: NodeJS.Timeout[] = [];
    const open: http.ServerResponse[] = [];
    const slow = await programmableServer(t, (_req, res) => {
      res.writeHead(200, { "content-type": "audio/wav", "content-length": String(1_000_000) });
      open.push(res);
      trickles.push(setInterval(() => res.write(Buffer.alloc(1)), 1000));
    });
    // the downloads must end before the orchestrator drains at close: ended here, whatever happens
    try {
      const downloads = [await submitUrl(orch, `${slow.url}/a.wav`), await submitUrl(orch, `${slow.url}/b.wav`)];
      await waitFor("both downloads to be trickling", () => (slow.requests.length === 2 ? true : undefined));
      const started = Date.now();
      const res = await fetch(`${orch.url}/v1/episodes?title=upload`, {
        method: "POST",
        headers: { "content-type": "audio/wav", authorization: `Bearer ${orch.adminToken}` },
        body: silentWav(2),
      });
      assert.equal(res.status, 202);
      const upload = ((await res.json()) as { id: string }).id;
      const view = await settles(orch, upload, ["transcribing"], 30_000);
      assert.equal(view.status, "transcribing", view.error);
      const waited = Date.now() - started;
      for (const id of downloads) assert.equal((await episode(orch, id)).status, "ingesting", "the downloads are still running");
      assert.ok(waited < 30_000, `the upload was cut after ${waited} ms`);
      t.diagnostic(`upload cut into chunks ${waited} ms after it was submitted, while 2 downloads trickled a byte a second`);
    } finally {
      trickles.forEach(clearInterval);
      open.forEach((r) => r.destroy());
    }
  });
});

describe("retry decisions", () => {
  const policy = { windowMs: 3600_000, baseDelayMs: 30_000, maxDelayMs: 15 * 60_000 };
  test("back-off doubles with equal jitter, honours Retry-After, and stops at the window", () => {
    const cases: Array<{ name: string; attempts: number; first: number | null; now: number; retryAfterMs?: number; random: number; want: string }> = [
      { name: "first failure, least jitter", attempts: 0, first: null, now: 1000, random: 0, want: "retry@16000" },
      { name: "first failure, most jitter", attempts: 0, first: null, now: 1000, random: 1, want: "retry@31000" },
      { name: "third failure doubles twice", attempts: 2, first: 0, now: 100_000, random: 0, want: "retry@160000" },
      { name: "capped at the max delay", attempts: 20, first: 0, now: 100_000, random: 1, want: "retry@1000000" },
      { name: "Retry-After longer than the back-off wins", attempts: 0, first: null, now: 0, retryAfterMs: 120_000, random: 1, want: "retry@120000" },
      {
        name: "Retry-After shorter than the back-off is a floor only",
        attempts: 0,
        first: null,
        now: 0,
        retryAfterMs: 1000,
        random: 0,
        want: "retry@15000",
      },
      {
        name: "next try past the window: give up",
        attempts: 7,
        first: 0,
        now: 3_500_000,
        random: 0,
        want: "give_up:gave up after 8 attempts over 58 min: HTTP 503",
      },
      {
        name: "Retry-After beyond the window: give up",
        attempts: 0,
        first: null,
        now: 0,
        retryAfterMs: 2 * 3600_000,
        random: 0,
        want: "give_up:gave up after 1 attempt over 0 min: HTTP 503",
      },
    ];
    for (const c of cases) {
      const d = decideFetchRetry(
        policy,
        { attempts: c.attempts, firstFailedAt: c.first },
        { message: "HTTP 503", retryAfterMs: c.retryAfterMs },
        c.now,
        () => c.random,
      );
      assert.equal(d.kind === "retry" ? `retry@${d.at}` : `give_up:${d.message}`, c.want, c.name);
      assert.equal(d.attempts, c.attempts + 1, c.name);
    }
    assert.equal(
      decideFetchRetry({ ...policy, windowMs: 0 }, { attempts: 0, firstFailedAt: null }, { message: "x" }, 0).kind,
      "give_up",
      "window 0: never retry",
    );
    assert.equal(
      decideFetchRetry({ windowMs: 0, baseDelayMs: 0, maxDelayMs: 0 }, { attempts: 0, firstFailedAt: null }, { message: "x" }, 0).kind,
      "give_up",
      "no policy: never retry",
    );
  });

  test("a failed feed item waits for a successful poll after the failure, and gives up at the limit", () => {
    const cases: Array<[string, Parameters<typeof failedItemAction>[0], string]> = [
      ["no poll since the failure", { attempts: 1, failedAt: 100, lastPolledAt: 50, lastPollOk: true }, "wait"],
      ["a successful poll after it", { attempts: 1, failedAt: 100, lastPolledAt: 150, lastPollOk: true }, "retry"],
      ["the poll after it failed", { attempts: 2, failedAt: 100, lastPolledAt: 150, lastPollOk: false }, "wait"],
      ["runs used up", { attempts: 3, failedAt: 100, lastPolledAt: 150, lastPollOk: true }, "give_up"],
      ["rows from before attempts were counted count as one run", { attempts: 0, failedAt: 100, lastPolledAt: 150, lastPollOk: true }, "retry"],
    ];
    for (const [name, item, want] of cases) assert.equal(failedItemAction(item, 3), want, name);
  });
});

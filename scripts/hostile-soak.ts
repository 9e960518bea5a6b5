/**
 * The hostile-server soak (issue 13's bar): `podfleet up` as a child process on a temp data
 * directory, fed episodes by URL and RSS feeds from misbehaving servers on 127.0.0.1
 * (test/support/hostile-servers.ts), checked for: the orchestrator never exits; every episode ends
 * done or failed with a clear reason; transient servers' episodes end done; the trickling and the
 * endless ones end failed with the reason expected. Prints a summary and exits 1 when the bar is
 * missed, 2 when the soak itself could not run.
 *
 *   npm exec -- node --import tsx scripts/hostile-soak.ts [--episodes 50] [--feeds 10] [--keep]
 *
 * Everything it starts (servers, the orchestrator and its workers) stops at the end, on failure,
 * on Ctrl-C, and at the hard timeout.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { startHostileServer, startPythonHttpServer, type HostileKind, type RunningServer } from "../test/support/hostile-servers.ts";
import { killAllUsing, startUp, type UpProcess } from "../test/support/up-process.ts";
import { buildAudio, feedXml, type FeedItemSpec } from "./soak-fixtures.ts";
import { SoakApi, type EpisodeView } from "./soak-api.ts";
import { checkSoak, printReport, type SoakFacts } from "./soak-report.ts";

// ---- Settings: adjust here as the fetch settings land (names may change) ----------------------
/** The orchestrator's environment: small windows so that slow and failing servers end in minutes. */
const ORCHESTRATOR_ENV: Record<string, string> = {
  PODFLEET_ALLOW_PRIVATE_URLS: "1", // every server is on loopback
  PODFLEET_ENGINE: "synthetic", // the cheapest real path: real queue, workers, results and stitching
  PODFLEET_MAX_MACHINES: "2",
  PODFLEET_CHUNK_SECONDS: "0", // one chunk per episode
  PODFLEET_IDLE_TIMEOUT_SEC: "20",
  PODFLEET_AUTOSCALE_INTERVAL_MS: "500",
  PODFLEET_RATE_LIMIT_PER_MIN: "0", // the soak submits in a burst on purpose
  PODFLEET_MAX_AUDIO_BYTES: String(16 * 1024 * 1024), // the endless body is cut here
  PODFLEET_FETCH_TIMEOUT_SEC: "30", // a backstop for one download (the min-rate abort should come first)
  PODFLEET_FETCH_MIN_BYTES_PER_SEC: "8192", // below this for the window: too slow
  PODFLEET_FETCH_MIN_RATE_WINDOW_SEC: "5",
  PODFLEET_FETCH_RETRY_WINDOW_SEC: "30", // transient failures are retried this long in all
  PODFLEET_FETCH_RETRY_DELAY_SEC: "2", // first back-off (doubling, with jitter, never under Retry-After)
  PODFLEET_LOG_LEVEL: "info",
};
/** The whole soak ends here whatever happens. */
const HARD_TIMEOUT_MS = 15 * 60_000;
/** Mix of URL episodes by server (scaled to --episodes). */
const URL_MIX: Array<[HostileKind, number]> = [
  ["http10", 8],
  ["keepalive", 8],
  ["trickle", 4],
  ["endless", 4],
  ["reset", 4],
  ["reset-once", 5],
  ["500-once", 6],
  ["429-once", 6],
  ["backpressure-close", 5],
];
/** Enclosures of feed items cycle through these (a different start per feed). */
const FEED_ITEM_KINDS: HostileKind[] = [
  "keepalive",
  "500-once",
  "429-once",
  "reset-once",
  "http10",
  "trickle",
  "endless",
  "reset",
  "backpressure-close",
];
const ITEMS_PER_FEED = 3;
/** What each server's episodes must end as; `reason` is checked on failed ones. */
const EXPECTED: Record<HostileKind, { status: "done" | "failed"; reason?: RegExp }> = {
  http10: { status: "done" },
  keepalive: { status: "done" },
  "backpressure-close": { status: "done" },
  "500-once": { status: "done" },
  "429-once": { status: "done" },
  "reset-once": { status: "done" },
  trickle: { status: "failed", reason: /slow/i },
  endless: { status: "failed", reason: /limit|too large|over the/i },
  reset: { status: "failed" },
};
const MAX_RESTARTS = 3;
// -----------------------------------------------------------------------------------------------

const { values } = parseArgs({
  options: { episodes: { type: "string", default: "50" }, feeds: { type: "string", default: "10" }, keep: { type: "boolean", default: false } },
});
const episodeCount = Number(values.episodes);
const feedCount = Number(values.feeds);
if (!Number.isInteger(episodeCount) || episodeCount < 1 || !Number.isInteger(feedCount) || feedCount < 0) {
  process.stderr.write("hostile-soak: --episodes must be a whole number ≥ 1 and --feeds ≥ 0\n");
  process.exit(2);
}

const started = Date.now();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-soak-"));
const www = path.join(tmp, "www");
const dataDir = path.join(tmp, "data");
const servers: RunningServer[] = [];
let up: UpProcess | undefined;
let stderrLog = "";
let stopping = false;

/** Stops the orchestrator (Ctrl-C, then SIGKILL of everything on its data dir), every server, and the temp dir. */
async function cleanup(): Promise<void> {
  stopping = true;
  if (up && up.child.exitCode === null && up.child.signalCode === null) {
    up.child.kill("SIGINT");
    const gone = await Promise.race([up.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 30_000))]);
    if (!gone) up.child.kill("SIGKILL");
  }
  if (up) stderrLog += up.stderr();
  killAllUsing(dataDir);
  await Promise.allSettled(servers.map((s) => s.close()));
  const logCopy = path.join(os.tmpdir(), `podfleet-soak-${started}.log`);
  fs.writeFileSync(logCopy, stderrLog);
  process.stderr.write(`orchestrator log: ${logCopy}\n`);
  if (values.keep) process.stderr.write(`kept ${tmp}\n`);
  else fs.rmSync(tmp, { recursive: true, force: true });
}

const hardStop = setTimeout(() => {
  process.stderr.write("hostile-soak: hard timeout; killing everything\n");
  void cleanup().finally(() => process.exit(2));
}, HARD_TIMEOUT_MS + 90_000);
hardStop.unref();
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.once(sig, () => {
    process.stderr.write(`hostile-soak: ${sig}; stopping\n`);
    void cleanup().finally(() => process.exit(2));
  });
}

async function main(): Promise<number> {
  fs.mkdirSync(www, { recursive: true });
  process.stderr.write("generating audio (flite, ffmpeg)…\n");
  const audio = await buildAudio(www);
  const lookup = (p: string) => {
    const file = path.join(www, path.basename(p));
    if (!fs.existsSync(file) || !fs.statSync(file).isFile()) return undefined;
    const type = file.endsWith(".mp3") ? "audio/mpeg" : file.endsWith(".xml") ? "application/rss+xml" : "audio/wav";
    return { body: fs.readFileSync(file), type };
  };
  const byKind = new Map<HostileKind, RunningServer>();
  byKind.set("http10", await startPythonHttpServer(www));
  for (const [kind] of URL_MIX) if (kind !== "http10") byKind.set(kind, await startHostileServer(kind, lookup));
  servers.push(...byKind.values());
  const kindOfUrl = (u: string): HostileKind | undefined => [...byKind].find(([, s]) => u.startsWith(s.url + "/"))?.[0];
  const audioUrl = (kind: HostileKind, tag: string) =>
    `${byKind.get(kind)!.url}/${kind === "backpressure-close" ? audio.big : kind === "endless" ? audio.wav : tag.length % 2 ? audio.mp3 : audio.wav}?${tag}`;

  up = await startUp(dataDir, ORCHESTRATOR_ENV);
  let restarts = 0;
  const exits: string[] = [];
  const api = new SoakApi(() => up!.url);
  process.stderr.write(`orchestrator on ${up.url}; servers: ${[...byKind].map(([k, s]) => `${k}=${s.url}`).join(" ")}\n`);

  // 50 episodes by URL, spread over the servers
  const plan: HostileKind[] = [];
  const weight = URL_MIX.reduce((a, [, w]) => a + w, 0);
  for (const [kind, w] of URL_MIX) for (let i = 0; i < Math.round((w * episodeCount) / weight); i++) plan.push(kind);
  while (plan.length < episodeCount) plan.push("keepalive");
  plan.length = episodeCount;
  const urlEpisodes = new Map<string, HostileKind>();
  for (const [i, kind] of plan.entries()) {
    const id = await api.submit(audioUrl(kind, `ep${i}`), `soak ${i} (${kind})`);
    urlEpisodes.set(id, kind);
  }

  // 10 feeds on the HTTP/1.0 and the keep-alive server, items pointing everywhere
  const feedIds: string[] = [];
  const feedItems = new Map<number, FeedItemSpec[]>();
  for (let f = 0; f < feedCount; f++) {
    const items = Array.from({ length: ITEMS_PER_FEED }, (_, j) => {
      const kind = FEED_ITEM_KINDS[(f + j * 4) % FEED_ITEM_KINDS.length]!;
      return {
        guid: `f${f}-i${j}`,
        title: `feed ${f} item ${j} (${kind})`,
        url: audioUrl(kind, `f${f}i${j}`),
        publishedAt: started - (j + 1) * 3600_000,
      };
    });
    feedItems.set(f, items);
    fs.writeFileSync(path.join(www, `feed-${f}.xml`), feedXml(`Soak feed ${f}`, items));
    const host = byKind.get(f % 2 === 0 ? "http10" : "keepalive")!;
    feedIds.push(await api.addFeed(`${host.url}/feed-${f}.xml`, ITEMS_PER_FEED));
  }

  // Wait for the end, restarting the orchestrator if it dies (counted: the bar is zero).
  const polls = new Map<string, Set<string>>();
  let addedNewItems = false;
  let last: { episodes: EpisodeView[]; feeds: SoakFacts["feeds"] } = { episodes: [], feeds: [] };
  let quietSince: number | undefined;
  let lastProgress = "";
  for (;;) {
    if (up.child.exitCode !== null || up.child.signalCode !== null) {
      restarts++;
      stderrLog += up.stderr();
      const lines = up.stderr().trim().split("\n");
      const errors = lines.filter((l) => /error|assert/i.test(l) && !l.includes('"level":"info"'));
      exits.push(
        `exit ${up.child.exitCode ?? up.child.signalCode}: ${(errors.length > 0 ? errors : lines)
          .slice(-2)
          .map((l) => l.slice(0, 300))
          .join(" / ")}`,
      );
      process.stderr.write(`ORCHESTRATOR EXITED (${exits.at(-1)})\n`);
      if (restarts > MAX_RESTARTS) break;
      up = await startUp(dataDir, ORCHESTRATOR_ENV);
    }
    if (!addedNewItems && Date.now() - started > 20_000) {
      // a new episode in every feed: the next timed poll must find it
      for (const [f, items] of feedItems) {
        items.unshift({
          guid: `f${f}-new`,
          title: `feed ${f} new item`,
          url: audioUrl(f % 2 ? "keepalive" : "http10", `f${f}new`),
          publishedAt: Date.now(),
        });
        fs.writeFileSync(path.join(www, `feed-${f}.xml`), feedXml(`Soak feed ${f}`, items));
      }
      addedNewItems = true;
    }
    try {
      last = { episodes: await api.episodes(), feeds: await api.feeds(feedIds) };
      for (const f of last.feeds) if (f.lastPolledAt) (polls.get(f.id) ?? polls.set(f.id, new Set()).get(f.id)!).add(f.lastPolledAt);
    } catch {
      // between restarts; the next round sees it
    }
    const open = last.episodes.filter((e) => e.status !== "done" && e.status !== "failed" && e.status !== "cancelled").length;
    const pendingItems = last.feeds.flatMap((f) => f.entries).filter((i) => i.state === "pending").length;
    const newFound = last.feeds.filter((f) => f.entries.some((i) => i.guid?.endsWith("-new"))).length;
    const settled = last.episodes.length >= urlEpisodes.size && open === 0 && pendingItems === 0 && newFound === feedCount;
    quietSince = settled ? (quietSince ?? Date.now()) : undefined;
    const progress = `episodes ${last.episodes.length} (${open} open), feed items pending ${pendingItems}, new items found ${newFound}/${feedCount}`;
    if (progress !== lastProgress) process.stderr.write(`[${Math.round((Date.now() - started) / 1000)}s] ${progress}\n`);
    lastProgress = progress;
    if (quietSince !== undefined && Date.now() - quietSince > 5_000) break;
    if (Date.now() - started > HARD_TIMEOUT_MS) break;
    await new Promise((r) => setTimeout(r, 3_000));
  }

  const facts: SoakFacts = {
    urlEpisodes,
    episodes: last.episodes,
    feeds: last.feeds,
    pollsSeen: new Map([...polls].map(([id, s]) => [id, s.size])),
    kindOfUrl,
    expected: EXPECTED,
    restarts,
    exits,
    escapes: await api.escapes().catch(() => undefined),
    wallSec: (Date.now() - started) / 1000,
    timedOut: Date.now() - started > HARD_TIMEOUT_MS,
  };
  const failures = checkSoak(facts);
  printReport(facts, failures);
  return failures.length === 0 ? 0 : 1;
}

let code = 2;
try {
  code = await main();
} catch (err) {
  process.stderr.write(`hostile-soak: could not run: ${(err as Error).stack ?? String(err)}\n`);
} finally {
  if (!stopping) await cleanup();
}
process.exit(code);

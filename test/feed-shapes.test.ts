/**
 * Feeds shaped the way real hosts serve them (test/fixtures/feeds: Libsyn with protocol-relative
 * enclosures, Anchor/Spotify, Buzzsprout, a self-hosted German show with relative enclosures),
 * served by `python3 -m http.server` (HTTP/1.0, one response per connection) and by a keep-alive
 * Node server, polled by a real orchestrator: the stored enclosure URLs are absolute and right, the
 * audio behind them is fetched, and each item's language reaches its episode and the chunk jobs on
 * the queue. Then a German episode through a real worker: its transcripts say `de-DE`.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { InlineChunkJob, JOB_HEADER } from "../contract/wire.ts";
import { PocketsphinxEngine } from "../machine-image/worker/pocketsphinx-engine.ts";
import { PermanentChunkError } from "../machine-image/worker/errors.ts";
import { primaryLanguage } from "../contract/wire.ts";
import { parseFeedDocument, resolveEnclosureUrl } from "../orchestrator/feeds/feed-document.ts";
import { pickFreePort } from "../orchestrator/free-port.ts";
import type { Orchestrator } from "../orchestrator/orchestrator.ts";
import { connectAuth } from "../orchestrator/queue/nats-credentials.ts";
import { PodcastTranscriptJson } from "../orchestrator/transcript/podcast-json-schema.ts";
import { startFleetStack } from "./support/fleet-stack.ts";
import { api, programmableServer, startStack, waitFor, type CleanupContext } from "./support/ingest-stack.ts";

const FIXTURES = path.join(import.meta.dirname, "fixtures", "feeds");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-feedshapes-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Enclosure paths the fixtures point at (queries dropped: both servers serve by path). */
const AUDIO_PATHS = [
  "/workshophour/Ep42_Sharpening.mp3",
  "/workshophour/Ep41_Glueups.mp3",
  "/production/exported/2026-10-29/abcdef12.mp3",
  "/1234567/episodes/16000001-frost-dates-explained.mp3",
  "/1234567/episodes/15900002-compost-two-ways.mp3",
  "/podcast/feed/media/fa003-die-drechslerin.mp3",
  "/podcast/media/fa002-schweiz.mp3",
  "/podcast/media/fa001-bonus.mp3",
];

/** What each feed must yield: item title → [stored enclosure URL (from the host), state, language]. */
function expected(host: string): Record<string, Record<string, [string, string, string | null]>> {
  const at = (p: string) => `http://${host}${p}`;
  return {
    libsyn: {
      "Ep. 42 – Sharpening, & why it matters": [at("/workshophour/Ep42_Sharpening.mp3?dest-id=123456"), "queued", "en"],
      "Ep. 41 – Glue-ups": [at("/workshophour/Ep41_Glueups.mp3?dest-id=123456"), "queued", "en"],
    },
    anchor: { "Why we keep notebooks": [at("/production/exported/2026-10-29/abcdef12.mp3"), "queued", "en"] },
    buzzsprout: {
      "Frost dates, explained": [at("/1234567/episodes/16000001-frost-dates-explained.mp3"), "queued", "en-US"],
      "Compost, two ways": [at("/1234567/episodes/15900002-compost-two-ways.mp3"), "skipped", null],
    },
    german: {
      "FA003 Die Drechslerin": [at("/podcast/feed/media/fa003-die-drechslerin.mp3"), "queued", "de-DE"],
      "FA002 Schweizer Spezialfolge": [at("/podcast/media/fa002-schweiz.mp3"), "queued", "de-CH"],
      "FA001 Bonus in English": [at("/podcast/media/fa001-bonus.mp3"), "queued", "en"],
    },
  };
}

/** The fixtures with {{HOST}} filled in, and a short MP3 at every enclosure path, under a fresh web root. */
function webRoot(name: string, host: string, mp3: Buffer): string {
  const root = path.join(tmp, name);
  for (const p of AUDIO_PATHS) {
    fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
    fs.writeFileSync(path.join(root, p), mp3);
  }
  fs.mkdirSync(path.join(root, "podcast", "feed"), { recursive: true });
  for (const f of fs.readdirSync(FIXTURES)) {
    fs.writeFileSync(path.join(root, "podcast", "feed", f), fs.readFileSync(path.join(FIXTURES, f), "utf8").replaceAll("{{HOST}}", host));
  }
  return root;
}

/** `python3 -m http.server` on 127.0.0.1 (HTTP/1.0, closes after every response), stopped by `t.after`. */
async function pythonServer(t: CleanupContext, mp3: Buffer): Promise<string> {
  const port = await pickFreePort();
  const host = `127.0.0.1:${port}`;
  const root = webRoot("python", host, mp3);
  const child = spawn("python3", ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", root], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  t.after(async () => {
    child.kill("SIGTERM");
    await exited;
  });
  await waitFor(`python3 -m http.server on ${host} (${stderr})`, async () => {
    if (child.exitCode !== null) throw new Error(`python3 -m http.server exited: ${stderr}`);
    return new Promise<true | undefined>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => s.end(() => resolve(true)));
      s.once("error", () => resolve(undefined));
    });
  });
  return host;
}

/** A keep-alive Node server serving the same files (the test's own server). */
async function nodeServer(t: CleanupContext, mp3: Buffer): Promise<string> {
  let root = "";
  const srv = await programmableServer(t, (req, res) => {
    const file = path.join(root, decodeURIComponent(new URL(req.url, "http://x").pathname));
    if (!file.startsWith(root) || !fs.existsSync(file) || !fs.statSync(file).isFile()) return void res.writeHead(404).end();
    const type = file.endsWith(".xml") ? "application/rss+xml; charset=utf-8" : "audio/mpeg";
    res.writeHead(200, { "content-type": type }).end(fs.readFileSync(file));
  });
  const host = new URL(srv.url).host;
  root = webRoot("node", host, mp3);
  return host;
}

interface Entry {
  title: string;
  enclosureUrl: string | null;
  state: string;
  episodeId: string | null;
}

describe("real-world feed shapes", () => {
  let mp3: Buffer;
  before(() => {
    const file = path.join(tmp, "tone.mp3");
    execFileSync("ffmpeg", ["-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=1", "-ac", "1", "-c:a", "libmp3lame", file]);
    mp3 = fs.readFileSync(file);
  });

  for (const [kind, start] of [
    ["python3 -m http.server (HTTP/1.0)", pythonServer],
    ["a keep-alive Node server", nodeServer],
  ] as const) {
    test(`served by ${kind}: enclosures resolved, languages carried to episodes and jobs`, async (t) => {
      const host = await start(t, mp3);
      for (const [feed, items] of Object.entries(expected(host))) {
        // One orchestrator per feed, without workers: the feed's jobs stay on its queue to be read,
        // and no other feed's unfinished jobs hold the feeds' in-flight budget.
        const orch = await startStack(t);
        const added = await api(orch.url, "POST", "/v1/feeds", { url: `http://${host}/podcast/feed/${feed}.xml`, backfill: 10 });
        assert.equal(added.status, 201, JSON.stringify(added.body));
        assert.equal(added.body.poll.status, "ok", JSON.stringify(added.body.poll));
        const { body } = await api<{ entries: Entry[] }>(orch.url, "GET", `/v1/feeds/${added.body.feed.id}`);
        const got = Object.fromEntries(body.entries.map((e) => [e.title, [e.enclosureUrl, e.state]]));
        assert.deepEqual(got, Object.fromEntries(Object.entries(items).map(([title, [url, state]]) => [title, [url, state]])), feed);
        const episodes: Array<{ id: string; language: string }> = [];
        for (const e of body.entries) {
          const language = items[e.title]![2];
          if (e.state !== "queued") continue;
          const view = (await api(orch.url, "GET", `/v1/episodes/${e.episodeId}`)).body;
          assert.equal(view.source.url, e.enclosureUrl);
          assert.equal(view.language, language, `${feed}: ${e.title}`);
          episodes.push({ id: e.episodeId!, language: language! });
        }
        // Every episode's audio came through this server; its chunk jobs carry the episode's language.
        for (const ep of episodes) {
          const status = await waitFor(`episode ${ep.id} ingested`, async () => {
            const s = (await orch.store.getEpisode(ep.id))?.status;
            return s === "transcribing" || s === "failed" ? s : undefined;
          });
          assert.equal(status, "transcribing", (await orch.store.getEpisode(ep.id))?.error ?? "");
        }
        // "transcribing" is recorded before the jobs go out: wait for them
        const jobs = await waitFor("every episode's jobs queued", async () => {
          const all = await queuedJobs(orch);
          return episodes.every((ep) => all.some((j) => j.episodeId === ep.id)) ? all : undefined;
        });
        for (const ep of episodes) {
          const mine = jobs.filter((j) => j.episodeId === ep.id);
          assert.ok(mine.length >= 1, `jobs of ${ep.id}`);
          for (const j of mine) assert.equal(j.language, ep.language, `${feed}: job of ${ep.id}`);
        }
        if (feed === "german") {
          const german = episodes.find((e) => e.language === "de-DE")!;
          const hint = jobs.find((j) => j.episodeId === german.id)!.language;
          assert.equal(primaryLanguage(hint), "de", "what whisper is told for the German show");
        }
      }
    });
  }
});

/** Every chunk job on the jobs stream, read without consuming it. */
async function queuedJobs(orch: Orchestrator): Promise<InlineChunkJob[]> {
  const nc = await connect({ servers: orch.natsUrl, ...connectAuth(orch.natsAuth.orchestrator) });
  try {
    const jsm = await jetstreamManager(nc);
    const { state } = await jsm.streams.info(orch.names.jobsStream);
    const jobs: InlineChunkJob[] = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const msg = await jsm.streams.getMessage(orch.names.jobsStream, { seq }).catch(() => null);
      if (msg) jobs.push(InlineChunkJob.parse(JSON.parse(msg.header.get(JOB_HEADER))));
    }
    return jobs;
  } finally {
    await nc.close();
  }
}

describe("a German show through a worker", () => {
  test("transcripts of a de-DE feed say de-DE: podcast:transcript snippet and JSON", async (t) => {
    const file = path.join(tmp, "tone-de.mp3");
    execFileSync("ffmpeg", [
      "-loglevel",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=300:duration=1",
      "-ac",
      "1",
      "-c:a",
      "libmp3lame",
      file,
    ]);
    const host = await pythonServer(t, fs.readFileSync(file));
    // The synthetic engine takes any language (pocketsphinx refuses non-English hints: see worker tests).
    const orch = await startFleetStack(t, { PODFLEET_ENGINE: "synthetic", PODFLEET_MAX_MACHINES: "1" });
    const added = await api(orch.url, "POST", "/v1/feeds", { url: `http://${host}/podcast/feed/german.xml`, backfill: 1 });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const { body } = await api<{ entries: Entry[] }>(orch.url, "GET", `/v1/feeds/${added.body.feed.id}`);
    const queued = body.entries.filter((e) => e.state === "queued");
    assert.equal(queued.length, 1);
    const id = queued[0]!.episodeId!;
    const done = await waitFor(
      "the German episode done",
      async () => {
        const v = (await api(orch.url, "GET", `/v1/episodes/${id}`)).body;
        if (v.status === "failed") throw new Error(`episode failed: ${v.error}`);
        return v.status === "done" ? v : undefined;
      },
      120_000,
    );
    assert.equal(done.language, "de-DE");
    const snippet = await api<string>(orch.url, "GET", `/v1/episodes/${id}/podcast-transcript.xml`);
    assert.equal(snippet.status, 200);
    const langs = [...snippet.body.matchAll(/language="([^"]*)"/g)].map((m) => m[1]);
    assert.deepEqual(langs, ["de-DE", "de-DE", "de-DE", "de-DE"]);
    const json = PodcastTranscriptJson.parse((await api(orch.url, "GET", `/v1/episodes/${id}/transcript.json`)).body);
    assert.equal(json.language, "de-DE");
    assert.ok(json.segments.length >= 1);
  });
});

describe("feed documents as hosts write them (pure)", () => {
  test("enclosure URLs resolve against the feed's final URL", () => {
    const base = "https://cdn.example.com/shows/feierabend/feed.xml";
    for (const [raw, want] of [
      ["//traffic.libsyn.com/secure/show/ep1.mp3?dest-id=1", "https://traffic.libsyn.com/secure/show/ep1.mp3?dest-id=1"],
      ["episodes/1.mp3", "https://cdn.example.com/shows/feierabend/episodes/1.mp3"],
      ["/a/b.mp3", "https://cdn.example.com/a/b.mp3"],
      ["../media/c.mp3", "https://cdn.example.com/shows/media/c.mp3"],
      ["https://media.example.org/x.mp3", "https://media.example.org/x.mp3"],
      ["media/folge 1.mp3", "https://cdn.example.com/shows/feierabend/media/folge%201.mp3"],
    ] as const) {
      assert.equal(resolveEnclosureUrl(raw, base), want, raw);
    }
    // a protocol-relative URL takes the feed's scheme; without any base it gets https
    assert.equal(resolveEnclosureUrl("//traffic.libsyn.com/a.mp3", "http://feeds.example.com/rss"), "http://traffic.libsyn.com/a.mp3");
    assert.equal(resolveEnclosureUrl("//traffic.libsyn.com/a.mp3", undefined), "https://traffic.libsyn.com/a.mp3");
    // nothing to resolve a relative path against: left as it is, and the submission refuses it with a reason
    assert.equal(resolveEnclosureUrl("episodes/1.mp3", undefined), "episodes/1.mp3");
  });

  test("item language beats channel language; garbage is passed over", () => {
    const xml = fs.readFileSync(path.join(FIXTURES, "german.xml"), "utf8");
    const doc = parseFeedDocument(xml, "https://feierabend.example/feed/mp3/");
    assert.equal(doc.language, "de-DE");
    assert.deepEqual(
      doc.items.map((i) => [i.title, i.language, i.enclosureUrl]),
      [
        ["FA003 Die Drechslerin", "de-DE", "https://feierabend.example/feed/mp3/media/fa003-die-drechslerin.mp3"],
        ["FA002 Schweizer Spezialfolge", "de-CH", "https://feierabend.example/podcast/media/fa002-schweiz.mp3"],
        ["FA001 Bonus in English", "en", "https://feierabend.example/feed/media/fa001-bonus.mp3"],
      ],
    );
    const garbage = parseFeedDocument(
      `<rss version="2.0"><channel><title>x</title><language>English</language><item><title>a</title><enclosure url="https://e.com/a.mp3" type="audio/mpeg"/></item></channel></rss>`,
    );
    assert.equal(garbage.language, undefined);
    assert.equal(garbage.items[0]!.language, undefined);
  });

  test("pocketsphinx refuses a non-English hint, saying so, before it decodes anything", async () => {
    const engine = new PocketsphinxEngine({ binary: path.join(tmp, "no-such-pocketsphinx") });
    await assert.rejects(
      engine.transcribe(path.join(tmp, "no-such.wav"), { language: "de-DE", signal: new AbortController().signal }),
      (e: Error) =>
        e instanceof PermanentChunkError && /cannot transcribe language "de-DE": its model handles only en; use the whisper engine/.test(e.message),
    );
  });
});

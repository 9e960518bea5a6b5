/**
 * Every number and language a caller sends is checked at the edge with the bounds the pipeline
 * enforces (orchestrator/input-bounds.ts): the API answers 400 with a JSON body naming the field,
 * the CLI exits 2 with one line, a setting fails at start; a value inside the bounds is accepted
 * and works. Real orchestrator (no workers), real CLI process.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ConfigError, parseConfig } from "../orchestrator/config.ts";
import { CHUNK_PAD_AFTER_SECONDS, CHUNK_PAD_SECONDS, CHUNK_PAD_SPEECH_SECONDS } from "../orchestrator/ingest/chunk-context.ts";
import { normalizeLanguageTag } from "../orchestrator/episodes/language-tag.ts";
import { CHUNK_SECONDS, parseBoundedNumber, withinBounds } from "../orchestrator/input-bounds.ts";
import { planChunks } from "../orchestrator/ingest/chunk-plan.ts";
import type { Orchestrator } from "../orchestrator/orchestrator.ts";
import { runCli } from "./support/cli.ts";
import { api, programmableServer, silentWav, startStack, suiteCleanup, waitFor } from "./support/ingest-stack.ts";

describe("bounds and language tags (pure)", () => {
  test("chunkSeconds: 0 or 1..3600, fractions allowed, like the chunk planner", () => {
    for (const ok of [0, 1, 1.5, 60, 3600]) {
      assert.ok(withinBounds(ok, CHUNK_SECONDS), String(ok));
      assert.doesNotThrow(() => planChunks(16_000 * 10, ok, []), String(ok));
    }
    for (const bad of [0.5, 0.999, -1, 3600.5, 1e9, NaN, Infinity, -0.0001]) {
      assert.ok(!withinBounds(bad, CHUNK_SECONDS), String(bad));
      assert.throws(() => planChunks(16_000 * 10, bad, []), String(bad));
    }
  });

  test("query and flag text is read strictly, never coerced", () => {
    for (const [raw, n] of [
      ["0", 0],
      ["60", 60],
      ["1.5", 1.5],
      ["3600", 3600],
    ] as const)
      assert.equal(parseBoundedNumber(raw, CHUNK_SECONDS), n);
    for (const raw of ["", " ", "0x10", "1e3", "Infinity", "NaN", "12abc", "0.5", "-1", "3601", "1,5", "99999999999999999999"]) {
      assert.equal(parseBoundedNumber(raw, CHUNK_SECONDS), undefined, JSON.stringify(raw));
    }
  });

  test("language tags are canonicalised; garbage is refused", () => {
    for (const [raw, tag] of [
      ["de", "de"],
      ["DE", "de"],
      ["de-DE", "de-DE"],
      ["de-de", "de-DE"],
      ["en-us", "en-US"],
      [" en_GB ", "en-GB"],
      ["zh-hant-tw", "zh-Hant-TW"],
      ["es-419", "es-419"],
      ["gsw", "gsw"],
    ] as const) {
      assert.equal(normalizeLanguageTag(raw), tag, raw);
    }
    for (const raw of ["", "German", "d", "12", "en--us", "en-", "de DE", "de-DE-ThisIsTooLong", "<script>", "e\u0301n"]) {
      assert.equal(normalizeLanguageTag(raw), undefined, JSON.stringify(raw));
    }
  });

  test("PODFLEET_CHUNK_SECONDS outside the bounds fails at start, naming the variable", () => {
    const dataDir = os.tmpdir();
    assert.throws(
      () => parseConfig({ PODFLEET_CHUNK_SECONDS: "0.5" }, { dataDir }),
      (e: Error) => e instanceof ConfigError && /PODFLEET_CHUNK_SECONDS/.test(e.message),
    );
    assert.equal(parseConfig({ PODFLEET_CHUNK_SECONDS: "0" }, { dataDir }).chunkSeconds, 0);
  });

  test("padding: before, after and at a cut in speech each settable; one setting alone pads both sides alike", () => {
    const dataDir = os.tmpdir();
    const pad = (env: Record<string, string>): unknown => parseConfig(env, { dataDir }).chunkPadSec;
    assert.deepEqual(pad({}), { before: CHUNK_PAD_SECONDS, after: CHUNK_PAD_AFTER_SECONDS, speech: CHUNK_PAD_SPEECH_SECONDS });
    assert.deepEqual(pad({}), { before: 0, after: 0, speech: 2 }, "by default only sides cut in speech are padded");
    // a padding set the old way pads a cut in speech as much as its larger side, as it did
    assert.deepEqual(pad({ PODFLEET_CHUNK_PAD_SECONDS: "0" }), { before: 0, after: 0, speech: 0 });
    assert.deepEqual(pad({ PODFLEET_CHUNK_PAD_SECONDS: "3", PODFLEET_CHUNK_PAD_AFTER_SECONDS: "0.5" }), { before: 3, after: 0.5, speech: 3 });
    assert.deepEqual(pad({ PODFLEET_CHUNK_PAD_AFTER_SECONDS: "1" }), { before: 0, after: 1, speech: 1 });
    assert.deepEqual(pad({ PODFLEET_CHUNK_PAD_SECONDS: "1", PODFLEET_CHUNK_PAD_SPEECH_SECONDS: "4" }), { before: 1, after: 1, speech: 4 });
    assert.throws(
      () => parseConfig({ PODFLEET_CHUNK_PAD_SPEECH_SECONDS: "31" }, { dataDir }),
      (e: Error) => e instanceof ConfigError && /PODFLEET_CHUNK_PAD_SPEECH_SECONDS/.test(e.message),
    );
    assert.throws(
      () => parseConfig({ PODFLEET_CHUNK_PAD_AFTER_SECONDS: "-1" }, { dataDir }),
      (e: Error) => e instanceof ConfigError && /PODFLEET_CHUNK_PAD_AFTER_SECONDS/.test(e.message),
    );
  });
});

describe("the API edge", () => {
  const cleanup = suiteCleanup();
  after(() => cleanup.run());
  let orch: Orchestrator;
  let audio: string;
  before(async () => {
    orch = await startStack(cleanup, { PODFLEET_RATE_LIMIT_PER_MIN: "0" });
    audio = `${(await programmableServer(cleanup, (_req, res) => res.writeHead(200, { "content-type": "audio/wav" }).end(silentWav(2)))).url}/a.wav`;
  });

  const bad = (status: number, body: { error?: { code: string; message: string } }, field: string, label: string) => {
    assert.equal(status, 400, `${label}: ${JSON.stringify(body)}`);
    assert.equal(body.error?.code, "invalid_request", label);
    assert.match(body.error.message, new RegExp(`^${field}: `), label);
  };
  const upload = async (query: string) => {
    const res = await fetch(`${orch.url}/v1/episodes?${query}`, {
      method: "POST",
      body: silentWav(1),
      headers: { "content-type": "audio/wav", authorization: `Bearer ${orch.adminToken}` },
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  for (const value of [0.5, -1, 3601, 1e9, "60", null, true, [60]] as const) {
    test(`JSON chunkSeconds ${JSON.stringify(value)} → 400 naming chunkSeconds`, async () => {
      const r = await api(orch.url, "POST", "/v1/episodes", { audioUrl: audio, chunkSeconds: value });
      bad(r.status, r.body, "chunkSeconds", String(value));
    });
  }
  test("JSON chunkSeconds 1e400 (Infinity once parsed) → 400", async () => {
    const r = await api(orch.url, "POST", "/v1/episodes", `{"audioUrl": ${JSON.stringify(audio)}, "chunkSeconds": 1e400}`);
    bad(r.status, r.body, "chunkSeconds", "1e400");
  });
  for (const q of ["", "0.5", "abc", "0x10", "1e3", "-5", "NaN", "Infinity"]) {
    test(`upload ?chunkSeconds=${q} → 400 naming chunkSeconds`, async () => {
      const r = await upload(`chunkSeconds=${encodeURIComponent(q)}`);
      bad(r.status, r.body, "chunkSeconds", q);
    });
  }
  test("language that is not a tag → 400 naming language (JSON and query)", async () => {
    const r = await api(orch.url, "POST", "/v1/episodes", { audioUrl: audio, language: "German" });
    bad(r.status, r.body, "language", "json");
    const q = await upload("language=%1B%5B31m");
    bad(q.status, q.body, "language", "query");
  });
  test("values inside the bounds are accepted and work: chunkSeconds 0 and 1.5, language DE-de", async () => {
    for (const [chunkSeconds, chunks] of [
      [0, 1],
      [1.5, 1],
    ] as const) {
      const r = await api(orch.url, "POST", "/v1/episodes", { audioUrl: audio, chunkSeconds, language: "DE-de" });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      const view = await waitFor("ingested", async () => {
        const v = (await api(orch.url, "GET", `/v1/episodes/${r.body.id}`)).body;
        if (v.status === "failed") throw new Error(`episode failed: ${v.error}`);
        return v.status === "transcribing" ? v : undefined;
      });
      assert.equal(view.language, "de-DE");
      assert.equal(view.chunkSeconds, chunkSeconds);
      assert.ok(view.chunks.total >= chunks);
    }
  });
  for (const q of ["0", "501", "abc", "", "2.5"]) {
    test(`GET /v1/episodes?limit=${q} → 400 naming limit`, async () => {
      const r = await api(orch.url, "GET", `/v1/episodes?limit=${q}`);
      bad(r.status, r.body, "limit", q);
    });
  }
  test("GET /v1/fleet/events?limit=abc → 400 naming limit; limit=5 → 200", async () => {
    const r = await api(orch.url, "GET", "/v1/fleet/events?limit=abc");
    bad(r.status, r.body, "limit", "events");
    assert.equal((await api(orch.url, "GET", "/v1/fleet/events?limit=5")).status, 200);
  });
  for (const [field, value] of [
    ["backfill", -1],
    ["backfill", 1.5],
    ["backfill", 10_001],
    ["intervalSec", 59],
    ["intervalSec", 60.5],
    ["intervalSec", 1e12],
  ] as const) {
    test(`POST /v1/feeds ${field} ${value} → 400 naming ${field}`, async () => {
      const r = await api(orch.url, "POST", "/v1/feeds", { url: "http://127.0.0.1:9/feed.xml", [field]: value });
      bad(r.status, r.body, field, `${field}=${value}`);
    });
  }
  test("PUT /v1/fleet/limits maxMachines 1.5 → 400 naming it", async () => {
    const r = await api(orch.url, "PUT", "/v1/fleet/limits", { maxMachines: 1.5 });
    assert.equal(r.status, 400);
    assert.match(r.body.error.message, /^maxMachines: /);
  });
  test("a webhook's language: garbage → 400 naming it; a tag → the episode's language", async () => {
    const src = await api(orch.url, "POST", "/v1/sources", { name: "lang", scheme: "token" });
    assert.equal(src.status, 201);
    const hook = new URL(src.body.url).pathname;
    const refused = await api(orch.url, "POST", hook, { audioUrl: `${audio}?w=1`, language: "Deutsch!" });
    assert.equal(refused.status, 400);
    assert.equal(refused.body.error.code, "bad_payload");
    assert.match(refused.body.error.message, /language: must be a language tag/);
    const taken = await api(orch.url, "POST", hook, { audioUrl: `${audio}?w=2`, language: "pt_br" });
    assert.equal(taken.status, 202, JSON.stringify(taken.body));
    assert.equal((await api(orch.url, "GET", `/v1/episodes/${taken.body.episodeId}`)).body.language, "pt-BR");
  });
});

describe("the CLI edge", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-bounds-cli-"));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  for (const [args, expected] of [
    [
      ["transcribe", "x.mp3", "--out", tmp, "--chunk-seconds", "0.5"],
      /^podfleet: --chunk-seconds must be a number from 1 to 3600, or 0 \(one chunk for the whole episode\), got "0.5"\n$/,
    ],
    [["transcribe", "x.mp3", "--out", tmp, "--chunk-seconds", "0x10"], /^podfleet: --chunk-seconds must be /],
    [["feeds", "add", "http://127.0.0.1:9/f.xml", "--interval", "59"], /^podfleet: --interval must be a whole number from 60 to 604800, got "59"\n$/],
    [["feeds", "add", "http://127.0.0.1:9/f.xml", "--backfill", "2.5"], /^podfleet: --backfill must be a whole number from 0 to 10000/],
    [["up", "--port", "70000"], /^podfleet: --port must be a whole number from 0 to 65535/],
  ] as const) {
    test(`podfleet ${args.join(" ")} → exit 2, one line`, async () => {
      const r = await runCli([...args], { PODFLEET_DATA_DIR: path.join(tmp, "data") }, 30_000);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, expected);
      assert.equal(fs.existsSync(path.join(tmp, "data", "orchestrator.pid")), false, "nothing was started");
    });
  }
});

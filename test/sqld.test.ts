/**
 * Remote libSQL: the orchestrator's core flow against a real `sqld` server instead of a file.
 * `podfleet transcribe` runs a ~20 s synthesized episode in two chunks with DATABASE_URL pointing at
 * sqld (embedded NATS, local machines runtime, pocketsphinx workers); the rows must land in sqld and
 * no local database file may be created.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient } from "@libsql/client";
import { Database } from "../orchestrator/store/database.ts";
import { wordErrorRate } from "../orchestrator/transcript/wer.ts";
import { processesMentioning, runCli } from "./support/cli.ts";
import { SHORT_TEXT } from "./support/corpus.ts";
import { synthesizeEpisode, type SynthesizedEpisode } from "./support/speech.ts";
import { startTestSqld } from "./support/sqld.ts";

describe("orchestrator on a sqld server", () => {
  let tmp: string;
  let episode: SynthesizedEpisode;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-sqld-e2e-"));
    episode = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs, voice: "rms", pauseSec: 1.0, format: "wav", dir: tmp });
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  test("migrations apply over HTTP and are idempotent", async (t) => {
    const sqld = await startTestSqld(t);
    const first = await Database.open(sqld.url);
    first.close();
    const second = await Database.open(sqld.url);
    t.after(() => second.close());
    const tables = await second.client.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name");
    const names = tables.rows.map((r) => r.name).filter((n) => typeof n === "string");
    for (const name of ["episodes", "chunks", "settings"]) assert.ok(names.includes(name), `table ${name} exists: ${names.join(", ")}`);
    // Serialized writes and a write transaction work over Hrana.
    await second.write(() => second.client.execute({ sql: "INSERT INTO settings (key, value) VALUES (?, ?)", args: ["probe", "1"] }));
    const row = await second.client.execute({ sql: "SELECT value FROM settings WHERE key = ?", args: ["probe"] });
    assert.equal(row.rows[0]?.value, "1");
  });

  test("a database URL that answers nothing fails fast with the URL in the error", async () => {
    const started = Date.now();
    await assert.rejects(Database.open("http://127.0.0.1:9"), (err: Error) => {
      assert.equal(err.name, "DatabaseUnavailableError");
      assert.match(err.message, /127\.0\.0\.1:9/);
      return true;
    });
    assert.ok(Date.now() - started < 10_000);
  });

  test("podfleet transcribe runs an episode end to end with DATABASE_URL=http://sqld", async (t) => {
    const sqld = await startTestSqld(t);
    const dataDir = path.join(tmp, "data");
    const out = path.join(tmp, "out");
    const r = await runCli(["transcribe", episode.path, "--out", out, "--chunk-seconds", "10", "--json"], {
      PODFLEET_DATA_DIR: dataDir,
      DATABASE_URL: sqld.url,
      PODFLEET_MAX_MACHINES: "2",
      PODFLEET_IDLE_TIMEOUT_SEC: "3",
      PODFLEET_NATS_PREFIX: `sqld${process.pid}`,
    });
    assert.equal(r.code, 0, `exit 0 expected; stderr: ${r.stderr}`);
    const summary = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
      episodeId: string;
      status: string;
      chunks: number;
      wallMs: number;
      durationSec: number;
    };
    assert.equal(summary.status, "done");
    assert.ok(summary.chunks >= 2, `expected 2+ chunks, got ${summary.chunks}`);
    const wer = wordErrorRate(episode.text, fs.readFileSync(path.join(out, "transcript.txt"), "utf8")).wer;
    t.diagnostic(`${summary.chunks} chunks, WER ${(wer * 100).toFixed(1)}%, wall ${summary.wallMs} ms for ${summary.durationSec.toFixed(1)} s`);
    assert.ok(wer <= 0.3, `WER ${wer}`);

    // The state lives in sqld, not in a file under the data directory.
    assert.ok(!fs.existsSync(path.join(dataDir, "podfleet.db")), "no local database file was created");
    const client = createClient({ url: sqld.url });
    t.after(() => client.close());
    const ep = await client.execute({ sql: "SELECT status FROM episodes WHERE id = ?", args: [summary.episodeId] });
    assert.equal(ep.rows[0]?.status, "done");
    const chunks = await client.execute({ sql: "SELECT count(*) AS n FROM chunks WHERE episode_id = ?", args: [summary.episodeId] });
    assert.equal(Number(chunks.rows[0]?.n), summary.chunks);
    assert.deepEqual(processesMentioning(dataDir), [], "no process of this run is left behind");
  });
});

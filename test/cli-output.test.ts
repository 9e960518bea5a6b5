/**
 * The CLI's renderings, as pure functions: `up`'s readable log lines, transcribe's progress line
 * and ETA, the user's file named instead of the server's upload, the variable-drift check, and
 * the demo's chunk timeline picture.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { ChunkView } from "../orchestrator/episodes/episode-service.ts";
import { chunkTimelineSvg } from "../orchestrator/cli/chunk-timeline.ts";
import { logFormat, readableLogLine } from "../orchestrator/cli/log-lines.ts";
import { describeProgress, estimateEta } from "../orchestrator/cli/progress.ts";
import { settingsDrift } from "../orchestrator/cli/target.ts";
import { inUserTerms } from "../orchestrator/cli/transcribe.ts";

test("up: JSON log records become readable lines on a terminal; PODFLEET_LOG_FORMAT overrides", () => {
  const line = JSON.stringify({
    t: "2026-12-01T18:04:05.123Z",
    level: "info",
    msg: "orchestrator listening",
    component: "orchestrator",
    url: "http://127.0.0.1:8080",
    machines: "local",
  });
  assert.equal(readableLogLine(line), "18:04:05 info  [orchestrator] orchestrator listening url=http://127.0.0.1:8080 machines=local");
  assert.equal(
    readableLogLine(JSON.stringify({ t: "2026-12-01T18:04:05Z", level: "warn", msg: "x", detail: "two words" })),
    '18:04:05 warn  x detail="two words"',
  );
  assert.equal(readableLogLine("not json \u001b[2J"), "not json \uFFFD[2J", "a stray line passes, neutralised");
  assert.equal(logFormat({}, true), "text");
  assert.equal(logFormat({}, false), "json");
  assert.equal(logFormat({ PODFLEET_LOG_FORMAT: "json" }, true), "json");
  assert.equal(logFormat({ PODFLEET_LOG_FORMAT: "TEXT" }, false), "text");
});

test("transcribe: the progress line has the phase, the counts, booting machines and an ETA from chunk times", () => {
  assert.equal(estimateEta([], 3, 1), null, "no ETA before a chunk is done");
  assert.equal(estimateEta([10_000, 20_000], 0, 0), null, "nothing left");
  // mean 15 s a chunk; 4 queued and 2 running on 2 machines: (4 + 1) / 2 * 15 s
  assert.equal(estimateEta([10_000, 20_000], 4, 2), 38);
  const line = describeProgress({ phase: "running", chunks: { total: 8, done: 2, running: 2, queued: 4, failed: 0 }, booting: 1, etaSec: 75 }, 42);
  assert.equal(line, "running · 2/8 chunks done, 2 running, 4 queued · 1 machine booting · ~1m15s left · 42s elapsed");
  assert.equal(
    describeProgress({ phase: "starting", chunks: { total: 0, done: 0, running: 0, queued: 0, failed: 0 }, booting: 0, etaSec: null }, 0),
    "starting · 0s elapsed",
  );
});

test("an error about the upload names the user's file, not the server's copy", () => {
  const msg = "not an audio file in a supported container (mp3, …): /srv/.podfleet/uploads/ep_0193abc.upload: Invalid data found";
  assert.equal(
    inUserTerms(msg, "ep_0193abc", "show notes.txt"),
    "not an audio file in a supported container (mp3, …): show notes.txt: Invalid data found",
  );
  assert.equal(inUserTerms(msg, "ep_0193abc", undefined), msg, "a URL episode keeps the message");
});

test("settings drift: a PODFLEET_* variable set here that the orchestrator lacks or has otherwise; client-side ones never", () => {
  const drift = settingsDrift(
    { PODFLEET_ALLOW_PRIVATE_URLS: "1", PODFLEET_ENGINE: "whisper", PODFLEET_MAX_MACHINES: "4", PODFLEET_URL: "http://x", PODFLEET_TOKEN: "(set)" },
    { PODFLEET_ENGINE: "pocketsphinx", PODFLEET_MAX_MACHINES: "4" },
  );
  assert.deepEqual(drift, [
    { name: "PODFLEET_ALLOW_PRIVATE_URLS", here: "1", there: null },
    { name: "PODFLEET_ENGINE", here: "whisper", there: "pocketsphinx" },
  ]);
});

test("the chunk timeline: one row per machine, one bar per finished chunk, widths in proportion to time", () => {
  const at = (s: number) => new Date(Date.UTC(2026, 11, 1, 18, 0, s)).toISOString();
  const chunk = (index: number, machineId: string, from: number, to: number): ChunkView => ({
    index,
    startSec: index * 20,
    endSec: index * 20 + 20,
    state: "done",
    attempt: 1,
    machineId,
    leasedAt: at(from),
    doneAt: at(to),
    processingMs: (to - from) * 1000,
    error: null,
  });
  const svg = chunkTimelineSvg(
    [
      chunk(0, "m_a", 0, 10),
      chunk(1, "m_b", 0, 5),
      chunk(2, "m_a", 10, 15),
      { ...chunk(3, "m_b", 0, 0), state: "queued", leasedAt: null, doneAt: null, machineId: null },
    ],
    "demo <run>",
  );
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(svg, /demo &lt;run&gt;/);
  assert.match(svg, /4 chunks on 2 machines, 15\.0 s from the first lease/);
  const widths = [...svg.matchAll(/data-chunk="(\d)" x="[\d.]+" y="[\d.]+" width="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.deepEqual(
    widths.map(([i]) => i),
    [0, 2, 1],
    "finished chunks only, grouped by machine",
  );
  const w = new Map(widths as Array<[number, number]>);
  assert.ok(Math.abs(w.get(0)! / w.get(1)! - 2) < 0.01, "10 s is twice 5 s");
});

/**
 * Transcript pipeline: stitching chunk results, caption segmentation, the four renderers, WER, and
 * one real round trip through the test fixtures (flite → ffmpeg → pocketsphinx).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, test } from "node:test";

import type { Word } from "../contract/wire.ts";
import {
  TRANSCRIPT_FORMATS,
  formatTimestamp,
  isTranscriptFormat,
  podcastJson,
  renderPodcastJson,
  renderSrt,
  renderText,
  renderVtt,
} from "../orchestrator/transcript/formats.ts";
import { PodcastTranscriptJson } from "../orchestrator/transcript/podcast-json-schema.ts";
import { CUE_LIMITS, SRT_CUE_LIMITS, buildCues, charCount, joinWords, paragraphs, wrapLines } from "../orchestrator/transcript/segments.ts";
import { StitchError, stitchChunks, type StitchChunk, type TimedWord } from "../orchestrator/transcript/stitch.ts";
import { normalizeWords, wordErrorRate } from "../orchestrator/transcript/wer.ts";
import { GARDEN_TEXT, RIVER_TOWN_TEXT, SHORT_TEXT } from "./support/corpus.ts";
import { synthesizeEpisode } from "./support/speech.ts";

const RATE = 16_000;

/** Words of a script with plausible times: ~0.3 s per word, a long pause between paragraphs. */
function timedScript(paras: readonly string[], opts: { secPerChar?: number; gap?: number } = {}): TimedWord[] {
  const words: TimedWord[] = [];
  let t = 0.25;
  for (const para of paras) {
    for (const text of para.split(/\s+/)) {
      const dur = 0.1 + charCount(text) * (opts.secPerChar ?? 0.05);
      words.push({ text, start: t, end: t + dur });
      t += dur + (/[.!?]$/.test(text) ? 0.35 : (opts.gap ?? 0.06));
    }
    t += 2;
  }
  return words;
}

function w(text: string, start: number, end: number, speaker?: string): TimedWord {
  return speaker === undefined ? { text, start, end } : { text, start, end, speaker };
}

describe("stitchChunks", () => {
  const chunk = (index: number, startSample: number, endSample: number, words: Word[]): StitchChunk => ({
    index,
    startSample,
    endSample,
    words,
  });

  test("shifts every word by exactly startSample / sampleRate", () => {
    const chunks = [
      chunk(0, 0, 480_000, [{ text: "one", start: 0.1, end: 0.4, confidence: 0.9 }]),
      chunk(1, 480_000, 960_123, [{ text: "two", start: 0.25, end: 0.5 }]),
      chunk(2, 960_123, 1_440_001, [{ text: "three", start: 1.125, end: 1.5 }]),
    ];
    const out = stitchChunks(chunks, RATE);
    assert.deepEqual(
      out.map((x) => x.text),
      ["one", "two", "three"],
    );
    assert.equal(out[0]!.confidence, 0.9);
    assert.equal(out[1]!.start, 480_000 / RATE + 0.25);
    assert.equal(out[2]!.start, 960_123 / RATE + 1.125);
    assert.equal(out[2]!.end, 960_123 / RATE + 1.5);
    // The offset is the chunk start to the sample: 960123 samples, not 60.0077 s rounded.
    assert.ok(Math.abs((out[2]!.start - 1.125) * RATE - 960_123) < 1e-6);
  });

  test("orders by chunk index, never by arrival order", () => {
    const chunks = Array.from({ length: 8 }, (_, i) =>
      chunk(i, i * 160_000, (i + 1) * 160_000, [
        { text: `w${i}a`, start: 1, end: 2 },
        { text: `w${i}b`, start: 3, end: 4 },
      ]),
    );
    const expected = stitchChunks(chunks, RATE);
    const shuffled = [5, 2, 7, 0, 3, 6, 1, 4].map((i) => chunks[i]!);
    assert.deepEqual(stitchChunks(shuffled, RATE), expected);
    assert.deepEqual(expected.map((x) => x.text).slice(0, 4), ["w0a", "w0b", "w1a", "w1b"]);
    for (let i = 1; i < expected.length; i++) assert.ok(expected[i]!.start > expected[i - 1]!.start);
  });

  test("overlapping chunks keep a straddling word once, on its midpoint's side of the seam", () => {
    // Chunk 0 covers 0-10 s, chunk 1 covers 8-20 s: the overlap is 8-10 s, the seam 9 s.
    const c0 = chunk(0, 0, 10 * RATE, [
      { text: "before", start: 7.0, end: 7.5 },
      { text: "straddle", start: 8.7, end: 9.1 }, // midpoint 8.9: stays in chunk 0
      { text: "after", start: 9.0, end: 9.4 }, // midpoint 9.2: belongs to chunk 1
    ]);
    const c1 = chunk(1, 8 * RATE, 20 * RATE, [
      { text: "straddle", start: 0.7, end: 1.1 },
      { text: "after", start: 1.0, end: 1.4 },
      { text: "later", start: 3.0, end: 3.5 },
    ]);
    const out = stitchChunks([c1, c0], RATE);
    assert.deepEqual(
      out.map((x) => x.text),
      ["before", "straddle", "after", "later"],
    );
    assert.ok(Math.abs(out[1]!.start - 8.7) < 1e-9);
    assert.ok(Math.abs(out[2]!.start - 9.0) < 1e-9);
  });

  test("throws on a missing, duplicate or out-of-plan index", () => {
    const a = chunk(0, 0, 100, []);
    const c = chunk(2, 200, 300, []);
    assert.throws(() => stitchChunks([a, c], RATE), StitchError);
    assert.throws(() => stitchChunks([a, a], RATE), /appears twice/);
    assert.throws(() => stitchChunks([a], RATE, { expectedChunks: 2 }), /1 of 2 chunks missing/);
    assert.throws(() => stitchChunks([a, c], RATE, { expectedChunks: 2 }), /outside the plan/);
    assert.deepEqual(stitchChunks([], RATE, { expectedChunks: 0 }), []);
  });
});

describe("caption cues", () => {
  const checkCues = (words: TimedWord[]): void => {
    const cues = buildCues(words);
    assert.ok(cues.length > 0);
    assert.deepEqual(
      cues.flatMap((c) => c.words),
      words,
      "every word exactly once, in order",
    );
    let previousEnd = 0;
    for (const cue of cues) {
      assert.ok(cue.lines.length >= 1 && cue.lines.length <= CUE_LIMITS.maxLines, `lines: ${cue.lines.join(" | ")}`);
      for (const line of cue.lines) assert.ok(charCount(line) <= CUE_LIMITS.maxLineChars, `line too long: ${line}`);
      assert.equal(cue.lines.join(" "), cue.text);
      assert.ok(cue.end - cue.start <= CUE_LIMITS.maxCueSec + 1e-9, `cue lasts ${cue.end - cue.start} s`);
      assert.ok(cue.start >= previousEnd && cue.end >= cue.start);
      previousEnd = cue.end;
    }
  };

  test("respect line, length and duration limits on real prose", () => {
    checkCues(timedScript(GARDEN_TEXT.paragraphs));
    checkCues(timedScript(RIVER_TOWN_TEXT.paragraphs, { gap: 0.01 }));
    // Slow speech: the 7 s limit binds before the character limit.
    checkCues(timedScript(["and so we waited there for a very long while indeed"], { secPerChar: 0.5 }));
  });

  test("a long pause forces a break; a short one does not", () => {
    const cues = buildCues([w("hello", 0, 0.4), w("there", 0.5, 0.9), w("again", 2.5, 3)]);
    assert.deepEqual(
      cues.map((c) => c.text),
      ["hello there", "again"],
    );
  });

  test("a full cue breaks at a sentence end, then a pause, before anywhere else", () => {
    const words = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
      .split(" ")
      .map((text, i) => w(text, i * 0.4, i * 0.4 + 0.3));
    // Without hints the cue fills up; with a pause after "six" it breaks there.
    const paused = words.map((x, i) => (i >= 6 ? w(x.text, x.start + 0.6, x.end + 0.6) : x));
    assert.equal(buildCues(paused)[0]!.words.at(-1)!.text, "six");
    // A sentence end after "nine" beats the pause after "six".
    const sentence = paused.map((x) => (x.text === "nine" ? w("nine.", x.start, x.end) : x));
    const first = buildCues(sentence, { minSentenceCueChars: 1000 })[0]!;
    assert.equal(first.words.at(-1)!.text, "nine.");
  });

  test("a speaker change starts a new cue and paragraph", () => {
    const words = [w("hi", 0, 0.3, "Ann"), w("there", 0.4, 0.7, "Ann"), w("hello", 0.8, 1.1, "Bob")];
    assert.deepEqual(
      buildCues(words).map((c) => c.speaker),
      ["Ann", "Bob"],
    );
    assert.deepEqual(
      paragraphs(words).map((p) => p.text),
      ["hi there", "hello"],
    );
  });

  test("an over-long word gets a cue of its own", () => {
    const long = "x".repeat(60);
    const cues = buildCues([w("a", 0, 0.2), w(long, 0.3, 1), w("b", 1.1, 1.2)]);
    assert.deepEqual(
      cues.map((c) => c.text),
      ["a", long, "b"],
    );
  });

  test("wrapLines balances two lines and joinWords glues punctuation", () => {
    assert.deepEqual(wrapLines("short line"), ["short line"]);
    const lines = wrapLines("the quick brown fox jumps over the lazy dog and keeps running far away");
    assert.equal(lines.length, 2);
    assert.ok(Math.abs(charCount(lines[0]!) - charCount(lines[1]!)) <= 10, lines.join(" | "));
    assert.equal(joinWords([{ text: " Hello" }, { text: "," }, { text: "world" }, { text: "'s" }, { text: "end." }]), "Hello, world's end.");
  });

  test("characters are code points: a surrogate pair is one, a lone surrogate one, and lines are measured so", () => {
    assert.equal(charCount("😀"), 1);
    assert.equal(charCount("a😀b"), 3);
    assert.equal(charCount("\uD83D"), 1);
    assert.equal(charCount("\uD83Dx"), 2);
    assert.equal(charCount("\uDE00\uD83D"), 2, "a low surrogate before a high one is no pair");
    assert.equal(charCount("👩‍👩‍👧"), 5, "three emoji joined by two zero-width joiners");
    // 13 words of 3 emoji: 51 characters (103 UTF-16 units) wrap into two lines of at most 42
    const cue = buildCues(Array.from({ length: 13 }, (_, i) => w("😀😀😀", i * 0.1, i * 0.1 + 0.05)))[0]!;
    assert.deepEqual(
      cue.lines.map((l) => charCount(l)),
      [23, 27],
    );
  });

  test("paragraphs break at pauses of at least 1.5 s (tunable)", () => {
    const words = [w("a", 0, 0.2), w("b", 1.2, 1.4), w("c", 3.0, 3.2)];
    assert.deepEqual(
      paragraphs(words).map((p) => p.text),
      ["a b", "c"],
    );
    assert.deepEqual(
      paragraphs(words, { pauseSec: 0.5 }).map((p) => p.text),
      ["a", "b", "c"],
    );
    assert.deepEqual(paragraphs([]), []);
  });
});

interface ParsedCue {
  startMs: number;
  endMs: number;
  lines: string[];
}

const TIME = String.raw`(\d{2,}):([0-5]\d):([0-5]\d)[,.](\d{3})`;
const toMs = (m: RegExpMatchArray, o: number): number => ((Number(m[o]) * 60 + Number(m[o + 1])) * 60 + Number(m[o + 2])) * 1000 + Number(m[o + 3]);

/** A strict SubRip reader: numbered blocks from 1, one timing line, 1-2 text lines, blank line between. */
function parseSrt(doc: string): ParsedCue[] {
  if (doc === "") return [];
  assert.ok(doc.endsWith("\n") && !doc.endsWith("\n\n\n"), "document ends with one newline");
  const timing = new RegExp(`^${TIME.replace("[,.]", ",")} --> ${TIME.replace("[,.]", ",")}$`);
  return doc
    .trimEnd()
    .split("\n\n")
    .map((block, i) => {
      const [number, times, ...lines] = block.split("\n");
      assert.equal(number, String(i + 1), "cue numbers count from 1");
      const m = times?.match(timing);
      assert.ok(m, `bad timing line: ${times}`);
      assert.ok(lines.length >= 1 && lines.length <= 2 && lines.every((l) => l.trim() !== ""), block);
      return { startMs: toMs(m, 1), endMs: toMs(m, 5), lines };
    });
}

/** A strict reader for the WebVTT we write: header, blank line, then timing + text blocks. */
function parseVtt(doc: string): ParsedCue[] {
  const [header, ...blocks] = doc.trimEnd().split("\n\n");
  assert.equal(header, "WEBVTT");
  const timing = new RegExp(`^${TIME.replace("[,.]", "\\.")} --> ${TIME.replace("[,.]", "\\.")}$`);
  return blocks.map((block) => {
    const [times, ...lines] = block.split("\n");
    const m = times?.match(timing);
    assert.ok(m, `bad timing line: ${times}`);
    assert.ok(lines.length >= 1 && lines.length <= 2, block);
    for (const line of lines) assert.ok(!line.includes("-->") && line.trim() !== "", line);
    return { startMs: toMs(m, 1), endMs: toMs(m, 5), lines };
  });
}

function assertMonotone(cues: ParsedCue[]): void {
  cues.forEach((c, i) => {
    assert.ok(c.endMs > c.startMs, `cue ${i} ends after it starts`);
    if (i > 0) assert.ok(c.startMs >= cues[i - 1]!.endMs, `cue ${i} starts before the previous one ends`);
  });
}

describe("renderers", () => {
  const words = timedScript(GARDEN_TEXT.paragraphs);

  test("formatTimestamp pads, rounds to the ms and carries", () => {
    assert.equal(formatTimestamp(3661.5, ","), "01:01:01,500");
    assert.equal(formatTimestamp(59.9996, "."), "00:01:00.000");
    assert.equal(formatTimestamp(0.0004, ","), "00:00:00,000");
    assert.equal(formatTimestamp(-1, "."), "00:00:00.000");
    assert.equal(formatTimestamp(360_000.25, "."), "100:00:00.250");
  });

  test("SRT and WebVTT are well formed, wrapped to their own widths, and keep every word", () => {
    const srt = parseSrt(renderSrt(words));
    const vtt = parseVtt(renderVtt(words));
    assertMonotone(srt);
    assertMonotone(vtt);
    for (const cue of srt) {
      for (const line of cue.lines) assert.ok(charCount(line) <= SRT_CUE_LIMITS.maxLineChars, line);
      assert.ok(cue.endMs - cue.startMs <= CUE_LIMITS.maxCueSec * 1000 + 1);
    }
    for (const cue of vtt) for (const line of cue.lines) assert.ok(charCount(line) <= CUE_LIMITS.maxLineChars, line);
    // WebVTT keeps its 42-character width: some of its lines are wider than SRT allows.
    assert.ok(vtt.some((c) => c.lines.some((l) => charCount(l) > SRT_CUE_LIMITS.maxLineChars)));
    assert.ok(srt.length > vtt.length, `SRT (${srt.length} cues) splits more than WebVTT (${vtt.length})`);
    const script = normalizeWords(GARDEN_TEXT.paragraphs.join(" "));
    assert.deepEqual(normalizeWords(srt.flatMap((c) => c.lines).join(" ")), script);
    assert.deepEqual(normalizeWords(vtt.flatMap((c) => c.lines).join(" ")), script);
    assert.equal(srt[0]!.startMs, Math.round(words[0]!.start * 1000));
  });

  test("one words array rendered at both widths gets each width's own cues, as if rendered alone", () => {
    const vttAlone = renderVtt([...words]);
    const srtAlone = renderSrt([...words]);
    const shared = [...words];
    assert.equal(renderSrt(shared), srtAlone);
    assert.equal(renderVtt(shared), vttAlone);
    assert.notEqual(vttAlone.split("\n\n").length, srtAlone.split("\n\n").length);
    assert.deepEqual(buildCues(shared, { maxLineChars: 20 }), buildCues([...words], { maxLineChars: 20 }));
  });

  test("SRT cues: at most two lines of at most 32 characters, no word cut or lost, times from the words", () => {
    // one long breathless sentence, no pauses: only the width can end a cue
    const text =
      "Wir sprechen heute ausführlich über Verkehrsinfrastrukturfinanzierung und die ganz alltäglichen Sorgen der Pendlerinnen und Pendler zwischen Frankfurt, Offenbach und Darmstadt, über Baustellen, Verspätungen und warum niemand je pünktlich ankommt";
    let t = 10;
    const long = text.split(" ").map((token) => {
      const word = w(token, t, t + 0.05 * charCount(token));
      t = word.end + 0.02;
      return word;
    });
    const cues = parseSrt(renderSrt(long));
    assertMonotone(cues);
    assert.ok(cues.length >= 5, `${cues.length} cues`);
    for (const cue of cues) {
      assert.ok(cue.lines.length <= SRT_CUE_LIMITS.maxLines);
      // a word longer than a line (the 33-letter compound) gets a line of its own rather than being cut
      for (const line of cue.lines) assert.ok(charCount(line) <= 32 || !line.includes(" "), `line of ${charCount(line)}: ${line}`);
    }
    assert.ok(cues.some((c) => c.lines.includes("Verkehrsinfrastrukturfinanzierung")));
    // every word, whole and in order
    assert.deepEqual(
      cues.flatMap((c) => c.lines.join(" ").split(" ")),
      text.split(" "),
    );
    // each cue starts when its first word starts and ends when its last word ends
    let next = 0;
    for (const cue of cues) {
      const count = cue.lines.join(" ").split(" ").length;
      assert.equal(cue.startMs, Math.round(long[next]!.start * 1000));
      assert.equal(cue.endMs, Math.round(long[next + count - 1]!.end * 1000));
      next += count;
    }
  });

  test("times never go backwards, even for overlapping word times", () => {
    const messy = [w("a", 1, 3), w("b.", 2, 2.5), w("c", 1.5, 1.5), w("d", 4, 4), w("e", 9, 8)];
    const cues = parseSrt(renderSrt(messy, { cues: { minSentenceCueChars: 1 } }));
    assert.ok(cues.length >= 2);
    assertMonotone(cues);
    assertMonotone(parseVtt(renderVtt(messy)));
    const json = PodcastTranscriptJson.parse(podcastJson(messy));
    json.segments.forEach((s, i) => i > 0 && assert.ok(s.startTime >= json.segments[i - 1]!.endTime));
  });

  test("WebVTT escapes markup characters and writes speakers as voice spans", () => {
    const doc = renderVtt([w("A&B", 0, 0.5, "Ann <host>"), w("-->", 0.6, 1, "Ann <host>"), w("<b>", 1.1, 1.5, "Ann <host>")]);
    assert.match(doc, /^<v Ann &lt;host&gt;>A&amp;B --&gt; &lt;b&gt;$/m);
    parseVtt(doc);
  });

  test("Podcasting 2.0 JSON validates, with times rounded to the millisecond", () => {
    const parsed = PodcastTranscriptJson.parse(JSON.parse(renderPodcastJson(words)));
    assert.equal(parsed.version, "1.0.0");
    assert.ok(parsed.segments.length > 10);
    for (const s of parsed.segments) {
      assert.equal(Math.round(s.startTime * 1000) / 1000, s.startTime);
      assert.equal(Math.round(s.endTime * 1000) / 1000, s.endTime);
      assert.equal(s.speaker, undefined);
    }
    const withSpeaker = podcastJson([w("hi", 0.1234, 0.5, "Ann")]);
    assert.deepEqual(withSpeaker.segments, [{ speaker: "Ann", startTime: 0.123, endTime: 0.5, body: "hi" }]);
    assert.equal(PodcastTranscriptJson.safeParse({ version: "1.0.0", segments: [{ startTime: 2, endTime: 1, body: "x" }] }).success, false);
    assert.equal(PodcastTranscriptJson.safeParse({ version: "2", segments: [] }).success, false);
  });

  test("plain text has one paragraph per long pause", () => {
    const text = renderText(words);
    assert.equal(text.split("\n\n").length, GARDEN_TEXT.paragraphs.length);
    assert.ok(text.endsWith(".\n"));
    assert.equal(renderText([w("a", 0, 1, "Ann")]), "Ann: a\n");
  });

  test("an empty transcript renders valid empty documents", () => {
    assert.equal(renderText([]), "");
    assert.deepEqual(parseSrt(renderSrt([])), []);
    assert.equal(renderVtt([]), "WEBVTT\n");
    assert.deepEqual(parseVtt(renderVtt([])), []);
    assert.deepEqual(PodcastTranscriptJson.parse(JSON.parse(renderPodcastJson([]))), { version: "1.0.0", segments: [] });
  });

  test("TRANSCRIPT_FORMATS maps extensions to content types and renderers", () => {
    assert.deepEqual(Object.keys(TRANSCRIPT_FORMATS).sort(), ["json", "srt", "txt", "vtt"]);
    assert.equal(TRANSCRIPT_FORMATS.vtt.contentType, "text/vtt; charset=utf-8");
    assert.equal(TRANSCRIPT_FORMATS.srt.contentType, "application/x-subrip");
    assert.equal(TRANSCRIPT_FORMATS.json.contentType, "application/json");
    assert.equal(TRANSCRIPT_FORMATS.txt.contentType, "text/plain; charset=utf-8");
    assert.equal(TRANSCRIPT_FORMATS.srt.render(words), renderSrt(words));
    assert.ok(isTranscriptFormat("vtt") && !isTranscriptFormat("html") && !isTranscriptFormat("toString"));
  });
});

describe("word error rate", () => {
  test("normalizeWords lowercases, strips punctuation, splits hyphens, keeps inner apostrophes", () => {
    assert.deepEqual(normalizeWords("Hello, World! It's a well-known fact—'really'. Don’t stop."), [
      "hello",
      "world",
      "it's",
      "a",
      "well",
      "known",
      "fact",
      "really",
      "don't",
      "stop",
    ]);
    assert.deepEqual(normalizeWords("  ...  "), []);
  });

  test("hand-computed examples", () => {
    const r = (ref: string, hyp: string) => wordErrorRate(ref, hyp);
    assert.deepEqual(r("The cat sat.", "the cat sat"), { wer: 0, substitutions: 0, deletions: 0, insertions: 0, referenceWords: 3 });
    assert.deepEqual(r("the cat sat", "the bat sat"), { wer: 1 / 3, substitutions: 1, deletions: 0, insertions: 0, referenceWords: 3 });
    assert.deepEqual(r("the cat sat on the mat", "the cat on the mat"), {
      wer: 1 / 6,
      substitutions: 0,
      deletions: 1,
      insertions: 0,
      referenceWords: 6,
    });
    assert.deepEqual(r("the cat sat", "the big cat sat"), { wer: 1 / 3, substitutions: 0, deletions: 0, insertions: 1, referenceWords: 3 });
    assert.deepEqual(r("a b c d", "a x c d e"), { wer: 0.5, substitutions: 1, deletions: 0, insertions: 1, referenceWords: 4 });
    assert.deepEqual(r("one two three", ""), { wer: 1, substitutions: 0, deletions: 3, insertions: 0, referenceWords: 3 });
    assert.deepEqual(r("", ""), { wer: 0, substitutions: 0, deletions: 0, insertions: 0, referenceWords: 0 });
    assert.deepEqual(r("", "hello there"), { wer: Infinity, substitutions: 0, deletions: 0, insertions: 2, referenceWords: 0 });
  });

  test("error counts equal the edit distance of a full-table reference implementation", () => {
    let seed = 7;
    const rand = (n: number): number => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) % n;
    const sentence = (): string => Array.from({ length: rand(12) }, () => "abcde"[rand(5)]).join(" ");
    for (let k = 0; k < 200; k++) {
      const ref = sentence().split(" ").filter(Boolean);
      const hyp = sentence().split(" ").filter(Boolean);
      const d = Array.from({ length: ref.length + 1 }, (_, i) => Array.from({ length: hyp.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
      for (let i = 1; i <= ref.length; i++) {
        for (let j = 1; j <= hyp.length; j++) {
          d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (ref[i - 1] === hyp[j - 1] ? 0 : 1));
        }
      }
      const got = wordErrorRate(ref.join(" "), hyp.join(" "));
      assert.equal(got.substitutions + got.deletions + got.insertions, d[ref.length]![hyp.length]);
      assert.equal(got.deletions - got.insertions, ref.length - hyp.length, "D - I is fixed by the lengths");
    }
  });
});

describe("synthetic speech fixtures", () => {
  test("flite → ffmpeg → pocketsphinx round trip has WER < 0.3", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "podfleet-transcript-"));
    t.after(() => rm(dir, { recursive: true, force: true }));

    const episode = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs, dir });
    assert.ok(episode.durationSec > 10 && episode.durationSec < 30, `duration ${episode.durationSec}`);
    const header = await readFile(episode.path);
    assert.equal(header.toString("ascii", 0, 4), "RIFF");
    assert.equal(header.readUInt16LE(22), 1, "mono");
    assert.equal(header.readUInt32LE(24), 16_000, "16 kHz");

    const { stdout: hypothesis } = await promisify(execFile)("pocketsphinx_continuous", ["-infile", episode.path, "-logfn", "/dev/null"], {
      timeout: 120_000,
    });
    const result = wordErrorRate(episode.text, hypothesis);
    t.diagnostic(`WER ${result.wer.toFixed(3)} over ${result.referenceWords} words: ${hypothesis.trim()}`);
    assert.ok(result.referenceWords > 30);
    assert.ok(result.wer < 0.3, `WER ${result.wer}`);

    const again = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs, dir });
    assert.deepEqual(await readFile(again.path), header, "cached synthesis gives the same audio");
  });

  test("MP3 output is a real MP3 of about the same length", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "podfleet-transcript-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const wav = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs, dir });
    const mp3 = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs, dir, format: "mp3" });
    assert.ok(mp3.path.endsWith(".mp3"));
    const bytes = await readFile(mp3.path);
    const id3 = bytes.toString("ascii", 0, 3) === "ID3";
    const sync = bytes[0] === 0xff && (bytes[1]! & 0xe0) === 0xe0;
    assert.ok(id3 || sync, "starts with an ID3 tag or an MPEG frame");
    assert.ok(Math.abs(mp3.durationSec - wav.durationSec) < 0.2, `${mp3.durationSec} vs ${wav.durationSec}`);
  });
});

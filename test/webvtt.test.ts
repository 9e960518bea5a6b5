/**
 * The WebVTT we render, read back by a real, spec-following parser (webvtt-parser, the W3C
 * validator's): no parse errors, cues in order, the same times and words, voice spans for speakers.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { createRequire } from "node:module";
import { describe, test } from "node:test";
import webvtt, { type WebVTTCueNode } from "webvtt-parser";
import { renderSrt, renderVtt } from "../orchestrator/transcript/formats.ts";
import { CUE_LIMITS, charCount } from "../orchestrator/transcript/segments.ts";
import type { TimedWord } from "../orchestrator/transcript/stitch.ts";
import { normalizeWords } from "../orchestrator/transcript/wer.ts";
import { GARDEN_TEXT, RIVER_TOWN_TEXT } from "./support/corpus.ts";

/** A script's words at ~0.3 s each, a sentence pause after each full stop, 2 s between paragraphs. */
function timed(paragraphs: readonly string[], speaker?: string): TimedWord[] {
  const out: TimedWord[] = [];
  let t = 0.5;
  for (const p of paragraphs) {
    for (const text of p.split(/\s+/)) {
      out.push({ text, start: t, end: t + 0.28, ...(speaker === undefined ? {} : { speaker }) });
      t += 0.28 + (/[.!?]$/.test(text) ? 0.4 : 0.05);
    }
    t += 2;
  }
  return out;
}

function parse(doc: string) {
  const result = new WebVTTParser(ENTITIES).parse(doc);
  assert.deepEqual(result.errors, [], "the WebVTT parser reports no errors");
  return result.cues;
}

const { WebVTTParser } = webvtt;
/** The full HTML character reference table; the parser's built-in one mis-decodes "&amp;" as "&;". */
const ENTITIES = JSON.parse(fs.readFileSync(createRequire(import.meta.url).resolve("webvtt-parser/html-entities.json"), "utf8")) as Record<
  string,
  string
>;

const textOf = (nodes: readonly WebVTTCueNode[]): string => nodes.map((n) => (n.type === "text" ? (n.value ?? "") : textOf(n.children))).join("");

describe("WebVTT through a real parser", () => {
  test("a long transcript parses without errors, in order, within the caption limits", () => {
    const words = timed([...GARDEN_TEXT.paragraphs, ...RIVER_TOWN_TEXT.paragraphs]);
    const cues = parse(renderVtt(words));
    assert.ok(cues.length > 50);
    cues.forEach((c, i) => {
      assert.ok(c.endTime > c.startTime, `cue ${i} ends after it starts`);
      if (i > 0) assert.ok(c.startTime >= cues[i - 1]!.endTime, `cue ${i} starts before the previous one ends`);
      assert.ok(c.endTime - c.startTime <= CUE_LIMITS.maxCueSec + 0.001, `cue ${i} lasts ${c.endTime - c.startTime} s`);
      const lines = c.text.split("\n");
      assert.ok(lines.length <= CUE_LIMITS.maxLines);
      for (const line of lines) assert.ok(charCount(line) <= CUE_LIMITS.maxLineChars, line);
    });
    // Every word, once, in order; the first cue starts with the first word.
    const all = cues.map((c) => textOf(c.tree.children)).join(" ");
    assert.deepEqual(normalizeWords(all), normalizeWords([...GARDEN_TEXT.paragraphs, ...RIVER_TOWN_TEXT.paragraphs].join(" ")));
    assert.equal(cues[0]!.startTime, 0.5);
  });

  test("WebVTT and SRT carry the same cue times at the same width (SRT's own is narrower: 32)", () => {
    const words = timed(GARDEN_TEXT.paragraphs);
    const vtt = parse(renderVtt(words)).map((c) => [Math.round(c.startTime * 1000), Math.round(c.endTime * 1000)]);
    const srt = [
      ...renderSrt(words, { cues: { maxLineChars: CUE_LIMITS.maxLineChars } }).matchAll(/^(\d+):(\d+):(\d+),(\d+) --> (\d+):(\d+):(\d+),(\d+)$/gm),
    ].map((m) => {
      const ms = (o: number) => ((Number(m[o]) * 60 + Number(m[o + 1])) * 60 + Number(m[o + 2])) * 1000 + Number(m[o + 3]);
      return [ms(1), ms(5)];
    });
    assert.deepEqual(vtt, srt);
  });

  test("markup characters are escaped and speakers become voice spans", () => {
    const words: TimedWord[] = [
      { text: "A&B", start: 0, end: 0.5, speaker: "Ann <host>" },
      { text: "-->", start: 0.6, end: 1, speaker: "Ann <host>" },
      { text: "<b>", start: 1.1, end: 1.5, speaker: "Ann <host>" },
    ];
    const [cue] = parse(renderVtt(words));
    const voice = cue!.tree.children[0]!;
    assert.equal(voice.name, "v");
    // This parser leaves character references in an annotation undecoded; decoded, it is the name.
    const unescape = (v: string): string => v.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
    assert.equal(unescape(voice.value ?? ""), "Ann <host>");
    assert.equal(textOf(voice.children), "A&B --> <b>");
  });

  test("an empty transcript is a valid empty document, and a broken one is caught", () => {
    assert.deepEqual(parse(renderVtt([])), []);
    const broken = new WebVTTParser(ENTITIES).parse("WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nbackwards\n");
    assert.ok(broken.errors.length > 0, "the parser does reject bad WebVTT");
  });
});

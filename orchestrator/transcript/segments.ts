/**
 * Segmentation: group stitched words into caption cues (for SRT, WebVTT, Podcasting 2.0 JSON) and
 * into paragraphs (for plain text). Pure functions; every limit is a named, documented constant.
 */
import type { TimedWord } from "./stitch.ts";

/**
 * Caption limits. The numbers follow common broadcast subtitle guidance: two lines of about 42
 * characters are readable at a glance, and a cue shown longer than ~7 s is usually two thoughts.
 */
export const CUE_LIMITS = {
  /** Longest line, in characters. A single word longer than this gets a line of its own. */
  maxLineChars: 42,
  /** Most lines in one cue. */
  maxLines: 2,
  /** Longest cue, in seconds from its first word's start to its last word's end. */
  maxCueSec: 7,
  /** A silence at least this long between two words is a good place to break a cue. */
  pauseSec: 0.5,
  /** A silence at least this long always ends the cue: the next words are a new thought. */
  longPauseSec: 1.5,
  /** A cue holding at least this many characters ends at a sentence end (. ! ?). */
  minSentenceCueChars: 16,
  /** When a full cue must break, break points leaving fewer characters than this are ignored. */
  minCueChars: 16,
} as const;

/**
 * SubRip's own width: the Podcasting 2.0 transcript guidance asks SRT captions for at most two
 * lines of at most 32 characters (they are shown on small screens and car displays). A cue that
 * would be wider ends earlier and the next words start a new cue, with their own recognised times,
 * so no word is cut and no time is invented. WebVTT and JSON keep CUE_LIMITS.
 */
export const SRT_CUE_LIMITS = { maxLineChars: 32, maxLines: 2 } as const;

/** Caption limits with plain number types, as `buildCues` uses them. */
export type CueLimits = { readonly [K in keyof typeof CUE_LIMITS]: number };

export type CueOptions = Partial<CueLimits>;

/** Paragraphs of plain text break where the speaker pauses at least this long (seconds). */
export const PARAGRAPH_PAUSE_SEC = 1.5;

/** One caption: times in seconds, text already wrapped into lines. */
export interface Cue {
  readonly start: number;
  readonly end: number;
  /** The cue's words joined into one line of text. */
  readonly text: string;
  /** `text` wrapped to at most `maxLines` lines of `maxLineChars` (except an over-long word). */
  readonly lines: readonly string[];
  readonly speaker?: string;
  readonly words: readonly TimedWord[];
}

/** A run of words without a long pause, for plain-text transcripts. */
export interface Paragraph {
  readonly start: number;
  readonly end: number;
  readonly text: string;
  readonly speaker?: string;
  readonly words: readonly TimedWord[];
}

const SENTENCE_END_RE = /[.!?…]["'”’)\]]*$/;
const PHRASE_END_RE = /[,;:—–]["'”’)\]]*$/;
/** Tokens glued to the previous word without a space (punctuation, English clitics). */
const ATTACHED_RE = /^(?:[.,!?;:%…)\]}»”’]+|'(?:s|re|ve|ll|d|m|t)|n't)$/i;
/** Words that usually open a new phrase, so breaking before them reads naturally. */
const PHRASE_OPENERS = new Set("and but or so because which who when while where if then although though after before until since".split(" "));
/** Words that should not end a line or a cue: they lean on the word after them. */
const LEANING_WORDS = new Set(
  "a an the to of in on at by for from with into and but or nor so if as than that my your our their his her its".split(" "),
);

function leansForward(token: string): boolean {
  return LEANING_WORDS.has(token.toLowerCase());
}

/** Number of characters as a reader counts them (code points, not UTF-16 units). */
export function charCount(text: string): number {
  // a surrogate pair is one code point; a lone surrogate counts as one, as `for (const c of text)` does
  let n = text.length;
  for (let i = 0; i + 1 < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

/** A word's text as it is written into a line: whitespace runs as single spaces, trimmed. */
function tokenOf(text: string): string {
  return /\s/.test(text) ? text.replace(/\s+/g, " ").trim() : text;
}

/** Joins word texts with single spaces, gluing punctuation tokens to the word before them. */
export function joinWords(words: readonly Pick<TimedWord, "text">[]): string {
  let out = "";
  for (const word of words) {
    const token = tokenOf(word.text);
    if (token === "") continue;
    out += out === "" || ATTACHED_RE.test(token) ? token : ` ${token}`;
  }
  return out;
}

/**
 * Wraps text into lines of at most `maxLineChars`. Text that fits one line stays one line; text
 * that fits two is split where the lines are most even (preferring a split after punctuation);
 * anything longer is wrapped greedily so that no text is ever dropped.
 */
export function wrapLines(text: string, maxLineChars: number = CUE_LIMITS.maxLineChars): string[] {
  const tokens = text.split(" ").filter((t) => t !== "");
  if (tokens.length === 0) return [];
  if (charCount(text) <= maxLineChars) return [tokens.join(" ")];
  return wrapTokens(tokens, tokens.map(charCount), maxLineChars);
}

/** wrapLines for text longer than one line, given as its space-separated tokens and their lengths. */
function wrapTokens(tokens: readonly string[], lens: readonly number[], maxLineChars: number): string[] {
  if (greedyLines(lens, maxLineChars).lines !== 2) return greedyWrap(tokens, lens, maxLineChars);
  // chars[k]: characters of tokens[0..k) joined by single spaces
  const chars = [0];
  for (let k = 0; k < lens.length; k++) chars.push(chars[k]! + lens[k]! + (k > 0 ? 1 : 0));
  const total = chars[lens.length]!;
  let best: { cost: number; k: number } | undefined;
  for (let k = 1; k < tokens.length; k++) {
    const longest = Math.max(chars[k]!, total - chars[k]! - 1);
    if (longest > maxLineChars) continue;
    const lastToken = tokens[k - 1]!;
    const bonus = PHRASE_END_RE.test(lastToken) || SENTENCE_END_RE.test(lastToken) ? 6 : 0;
    const cost = longest - bonus + (leansForward(lastToken) ? 6 : 0);
    if (best === undefined || cost < best.cost) best = { cost, k };
  }
  return best ? [tokens.slice(0, best.k).join(" "), tokens.slice(best.k).join(" ")] : greedyWrap(tokens, lens, maxLineChars);
}

/** Greedy wrapping, measured on token lengths only: how many lines, and whether one token alone is too long. */
function greedyLines(lens: readonly number[], maxLineChars: number): { lines: number; tooLong: boolean } {
  let lines = 0;
  let line = -1; // characters on the current line; -1 before the first token
  let tooLong = false;
  for (const len of lens) {
    if (line >= 0 && line + 1 + len <= maxLineChars) {
      line += 1 + len;
    } else {
      lines += 1;
      line = len;
    }
    if (len > maxLineChars) tooLong = true;
  }
  return { lines, tooLong };
}

function greedyWrap(tokens: readonly string[], lens: readonly number[], maxLineChars: number): string[] {
  const lines: string[] = [];
  let from = 0;
  let line = -1;
  for (let i = 0; i < tokens.length; i++) {
    if (line >= 0 && line + 1 + lens[i]! > maxLineChars) {
      lines.push(tokens.slice(from, i).join(" "));
      from = i;
      line = lens[i]!;
    } else {
      line = line < 0 ? lens[i]! : line + 1 + lens[i]!;
    }
  }
  if (from < tokens.length) lines.push(tokens.slice(from).join(" "));
  return lines;
}

/**
 * A word as cue building measures it, computed once per word: its token as `joinWords` writes it,
 * whether it glues to the word before, the character count of each space-separated piece of it,
 * and whether it ends a sentence. Cue building then works on numbers: it never joins or re-counts a
 * run's text while deciding where cues end, which keeps rendering an hour of words linear.
 */
interface Measured {
  readonly word: TimedWord;
  readonly token: string;
  readonly attached: boolean;
  readonly lens: readonly number[];
  readonly sentenceEnd: boolean;
}

/** The word measured, or undefined for a word with no text (it is skipped). */
function measure(word: TimedWord): Measured | undefined {
  const token = tokenOf(word.text);
  if (token === "") return undefined;
  return {
    word,
    token,
    attached: ATTACHED_RE.test(token),
    lens: token.includes(" ") ? token.split(" ").map(charCount) : [charCount(token)],
    sentenceEnd: SENTENCE_END_RE.test(token),
  };
}

/**
 * Every word measured, once per words array: SRT and WebVTT build their cues from the same stitched
 * words with different limits. Keyed weakly by the array (callers never mutate a stitched transcript).
 */
const measuredCache = new WeakMap<readonly TimedWord[], ReadonlyArray<Measured | undefined>>();

function measureAll(words: readonly TimedWord[]): ReadonlyArray<Measured | undefined> {
  let measured = measuredCache.get(words);
  if (measured === undefined) {
    measured = words.map((word) => measure(word));
    measuredCache.set(words, measured);
  }
  return measured;
}

/** Appends a word's pieces to the line tokens of a run, as `joinWords(...).split(" ")` would have them. */
function appendPieces(tokens: number[], m: Measured): void {
  if (m.attached && tokens.length > 0) tokens[tokens.length - 1]! += m.lens[0]!;
  else for (const len of m.lens) tokens.push(len);
}

/** Characters of a run's joined text, from its line tokens. */
function joinedChars(tokens: readonly number[]): number {
  let n = tokens.length > 0 ? tokens.length - 1 : 0;
  for (const len of tokens) n += len;
  return n;
}

/**
 * Whether a run's line tokens with `next` appended wrap greedily into at most `maxLines` lines with
 * no token longer than a line: greedyLines of appendPieces(tokens, next), without building that array.
 */
function fitsLines(tokens: readonly number[], next: Measured, maxLineChars: number, maxLines: number): boolean {
  const glued = next.attached && tokens.length > 0;
  const count = tokens.length + (glued ? next.lens.length - 1 : next.lens.length);
  let lines = 0;
  let line = -1; // characters on the current line; -1 before the first token
  for (let i = 0; i < count; i++) {
    // the i-th token of the run with `next` appended (no closure here: tsx names every closure it creates)
    let len: number;
    if (i < tokens.length) len = tokens[i]! + (glued && i === tokens.length - 1 ? next.lens[0]! : 0);
    else len = next.lens[i - tokens.length + (glued ? 1 : 0)]!;
    if (len > maxLineChars) return false;
    if (line >= 0 && line + 1 + len <= maxLineChars) {
      line += 1 + len;
    } else {
      lines += 1;
      line = len;
      if (lines > maxLines) return false;
    }
  }
  return true;
}

/**
 * Groups words into caption cues of at most `maxLines` × `maxLineChars` and `maxCueSec`.
 * A cue ends at a sentence end once it holds some text, and always at a long pause or a speaker
 * change; when a cue is full it breaks at the best earlier point: a sentence end, else a pause,
 * else a phrase boundary, else just before the word that did not fit. Cue times never go backwards.
 */
export function buildCues(words: readonly TimedWord[], options: CueOptions = {}): Cue[] {
  const overrides = Object.entries(options).filter(([, value]) => value !== undefined);
  const limits: CueLimits = { ...CUE_LIMITS, ...Object.fromEntries(overrides) };
  const cues: Cue[] = [];
  const current: Measured[] = [];
  const tokens: number[] = []; // line tokens of `current`
  const emit = (count: number): void => {
    const taken = current.splice(0, count);
    tokens.length = 0;
    for (const m of current) appendPieces(tokens, m);
    if (taken.length > 0) cues.push(makeCue(taken, cues.at(-1)?.end ?? 0, limits.maxLineChars));
  };
  const fitsWith = (next: Measured): boolean => {
    if (current.length === 0) return true;
    const seconds = next.word.end - current[0]!.word.start;
    return seconds <= limits.maxCueSec && fitsLines(tokens, next, limits.maxLineChars, limits.maxLines);
  };

  for (const m of measureAll(words)) {
    if (m === undefined) continue;
    const word = m.word;
    const last = current.at(-1)?.word;
    if (last !== undefined && (word.start - last.end >= limits.longPauseSec || word.speaker !== last.speaker)) {
      emit(current.length);
    }
    while (current.length > 0 && !fitsWith(m)) {
      emit(chooseBreak(current, m, limits));
    }
    current.push(m);
    appendPieces(tokens, m);
    if (m.sentenceEnd && joinedChars(tokens) >= limits.minSentenceCueChars) {
      emit(current.length);
    }
  }
  emit(current.length);
  return cues;
}

/**
 * How many words of a full cue to keep, given the word that did not fit after them. Ranks each
 * break point (sentence end 4, pause 3, phrase punctuation 2, before a phrase opener 1, anywhere
 * else 0, never after a word like "the" that leans on the next) and keeps the latest one of the
 * best rank; breaking just before `next` is the fallback.
 */
function chooseBreak(run: readonly Measured[], next: Measured, limits: CueLimits): number {
  let bestRank = 0;
  let bestKeep = run.length;
  // joinedChars of the line tokens of run[0..keep), kept up as words are added (tokens: how many)
  let chars = 0;
  let tokens = 0;
  for (let keep = 1; keep <= run.length; keep++) {
    const before = run[keep - 1]!;
    if (before.attached && tokens > 0) chars += before.lens[0]!;
    else
      for (const len of before.lens) {
        chars += tokens > 0 ? len + 1 : len;
        tokens += 1;
      }
    if (keep < run.length && chars < limits.minCueChars) continue;
    const after = run[keep] ?? next;
    let rank = 0;
    if (before.sentenceEnd) rank = 4;
    else if (after.word.start - before.word.end >= limits.pauseSec) rank = 3;
    else if (PHRASE_END_RE.test(before.token)) rank = 2;
    else if (leansForward(before.token)) rank = -1;
    else if (PHRASE_OPENERS.has(after.token.toLowerCase())) rank = 1;
    if (rank >= bestRank && (rank > 0 || bestRank <= 0)) {
      bestRank = rank;
      bestKeep = keep;
    }
  }
  return bestKeep;
}

/**
 * One cue from measured words: their tokens joined as `joinWords` joins them, wrapped as
 * `wrapLines` wraps that text (its space-separated pieces and their lengths come from the
 * measurements instead of splitting and counting the text again).
 */
function makeCue(run: readonly Measured[], notBefore: number, maxLineChars: number): Cue {
  const words = run.map((m) => m.word);
  const start = Math.max(words[0]!.start, notBefore, 0);
  let end = start;
  let text = "";
  for (const m of run) {
    end = Math.max(end, m.word.end);
    text += text === "" || m.attached ? m.token : ` ${m.token}`;
  }
  // the joined text has single spaces: when it fits one line, that line is the text itself
  const lines = charCount(text) <= maxLineChars ? [text] : wrapRun(run, maxLineChars);
  const speaker = words[0]!.speaker;
  const base = { start, end, text, lines, words };
  return speaker === undefined ? base : { ...base, speaker };
}

/** wrapLines of a run's joined text, from its measured pieces instead of splitting and counting the text again. */
function wrapRun(run: readonly Measured[], maxLineChars: number): string[] {
  const pieces: string[] = [];
  const lens: number[] = [];
  for (const m of run) {
    if (m.attached && pieces.length > 0) {
      // an attached token is one piece (no spaces) that grows the last one; counted again, as two
      // lone surrogates that meet make one character
      const last = pieces.length - 1;
      pieces[last] += m.token;
      lens[last] = charCount(pieces[last]!);
    } else if (m.lens.length === 1) {
      pieces.push(m.token);
      lens.push(m.lens[0]!);
    } else {
      pieces.push(...m.token.split(" "));
      lens.push(...m.lens);
    }
  }
  return wrapTokens(pieces, lens, maxLineChars);
}

/**
 * Splits words into paragraphs at pauses of at least `pauseSec` (default `PARAGRAPH_PAUSE_SEC`) and
 * at speaker changes, for plain-text transcripts that read like prose.
 */
export function paragraphs(words: readonly TimedWord[], options: { pauseSec?: number } = {}): Paragraph[] {
  const pauseSec = options.pauseSec ?? PARAGRAPH_PAUSE_SEC;
  const groups: Measured[][] = [];
  for (const m of measureAll(words)) {
    if (m === undefined) continue;
    const group = groups.at(-1);
    const last = group?.at(-1)?.word;
    if (group === undefined || last === undefined || m.word.start - last.end >= pauseSec || m.word.speaker !== last.speaker) {
      groups.push([m]);
    } else {
      group.push(m);
    }
  }
  return groups.map((group) => {
    const first = group[0]!.word;
    let end = first.start;
    let text = "";
    for (const m of group) {
      end = Math.max(end, m.word.end);
      text += text === "" || m.attached ? m.token : ` ${m.token}`;
    }
    const base = { start: first.start, end, text, words: group.map((m) => m.word) };
    return first.speaker === undefined ? base : { ...base, speaker: first.speaker };
  });
}

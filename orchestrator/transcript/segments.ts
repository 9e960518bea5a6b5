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
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Joins word texts with single spaces, gluing punctuation tokens to the word before them. */
export function joinWords(words: readonly Pick<TimedWord, "text">[]): string {
  let out = "";
  for (const word of words) {
    const token = word.text.replace(/\s+/g, " ").trim();
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
  const lens = tokens.map(charCount);
  // chars[k]: characters of tokens[0..k) joined by single spaces
  const chars = [0];
  for (let k = 0; k < lens.length; k++) chars.push(chars[k]! + lens[k]! + (k > 0 ? 1 : 0));
  const total = chars[lens.length]!;
  if (charCount(text) <= maxLineChars) return [tokens.join(" ")];
  if (greedyLines(lens, maxLineChars).lines !== 2) return greedyWrap(tokens, lens, maxLineChars);
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
 * A word as cue building measures it, computed once per word: whether it glues to the word before
 * (`joinWords`), and the character count of each space-separated piece of its text. Cue building
 * then works on numbers: it never joins or re-counts a run's text while deciding where cues end,
 * which keeps rendering an hour of words linear.
 */
interface Measured {
  readonly word: TimedWord;
  readonly attached: boolean;
  readonly lens: readonly number[];
}

function measure(word: TimedWord): Measured {
  const token = word.text.replace(/\s+/g, " ").trim();
  return { word, attached: ATTACHED_RE.test(token), lens: token.split(" ").map(charCount) };
}

/** Appends a word's pieces to the line tokens of a run, as `joinWords(...).split(" ")` would have them. */
function appendPieces(tokens: number[], m: Measured): void {
  if (m.attached && tokens.length > 0) tokens[tokens.length - 1]! += m.lens[0]!;
  else tokens.push(...m.lens);
}

/** Characters of a run's joined text, from its line tokens. */
function joinedChars(tokens: readonly number[]): number {
  let n = tokens.length > 0 ? tokens.length - 1 : 0;
  for (const len of tokens) n += len;
  return n;
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
  let current: Measured[] = [];
  let tokens: number[] = []; // line tokens of `current`
  const emit = (count: number): void => {
    const taken = current.slice(0, count);
    current = current.slice(count);
    tokens = [];
    for (const m of current) appendPieces(tokens, m);
    if (taken.length > 0)
      cues.push(
        makeCue(
          taken.map((m) => m.word),
          cues.at(-1)?.end ?? 0,
          limits.maxLineChars,
        ),
      );
  };
  const fitsWith = (next: Measured): boolean => {
    if (current.length === 0) return true;
    const candidate = [...tokens];
    appendPieces(candidate, next);
    const { lines, tooLong } = greedyLines(candidate, limits.maxLineChars);
    const seconds = next.word.end - current[0]!.word.start;
    return lines <= limits.maxLines && !tooLong && seconds <= limits.maxCueSec;
  };

  for (const word of words) {
    if (word.text.trim() === "") continue;
    const m = measure(word);
    const last = current.at(-1)?.word;
    if (last !== undefined && (word.start - last.end >= limits.longPauseSec || word.speaker !== last.speaker)) {
      emit(current.length);
    }
    while (current.length > 0 && !fitsWith(m)) {
      emit(chooseBreak(current, word, limits));
    }
    current.push(m);
    appendPieces(tokens, m);
    if (SENTENCE_END_RE.test(word.text.trim()) && joinedChars(tokens) >= limits.minSentenceCueChars) {
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
function chooseBreak(run: readonly Measured[], next: TimedWord, limits: CueLimits): number {
  let best = { rank: 0, keep: run.length };
  const kept: number[] = []; // line tokens of run[0..keep)
  for (let keep = 1; keep <= run.length; keep++) {
    appendPieces(kept, run[keep - 1]!);
    if (keep < run.length && joinedChars(kept) < limits.minCueChars) continue;
    const before = run[keep - 1]!.word;
    const after = run[keep]?.word ?? next;
    const text = before.text.trim();
    let rank = 0;
    if (SENTENCE_END_RE.test(text)) rank = 4;
    else if (after.start - before.end >= limits.pauseSec) rank = 3;
    else if (PHRASE_END_RE.test(text)) rank = 2;
    else if (leansForward(text)) rank = -1;
    else if (PHRASE_OPENERS.has(after.text.trim().toLowerCase())) rank = 1;
    if (rank >= best.rank && (rank > 0 || best.rank <= 0)) best = { rank, keep };
  }
  return best.keep;
}

function makeCue(words: readonly TimedWord[], notBefore: number, maxLineChars: number): Cue {
  const start = Math.max(words[0]!.start, notBefore, 0);
  const end = words.reduce((max, w) => Math.max(max, w.end), start);
  const text = joinWords(words);
  const speaker = words[0]!.speaker;
  const base = { start, end, text, lines: wrapLines(text, maxLineChars), words };
  return speaker === undefined ? base : { ...base, speaker };
}

/**
 * Splits words into paragraphs at pauses of at least `pauseSec` (default `PARAGRAPH_PAUSE_SEC`) and
 * at speaker changes, for plain-text transcripts that read like prose.
 */
export function paragraphs(words: readonly TimedWord[], options: { pauseSec?: number } = {}): Paragraph[] {
  const pauseSec = options.pauseSec ?? PARAGRAPH_PAUSE_SEC;
  const groups: TimedWord[][] = [];
  for (const word of words) {
    if (word.text.trim() === "") continue;
    const group = groups.at(-1);
    const last = group?.at(-1);
    if (group === undefined || last === undefined || word.start - last.end >= pauseSec || word.speaker !== last.speaker) {
      groups.push([word]);
    } else {
      group.push(word);
    }
  }
  return groups.map((group) => {
    const base = {
      start: group[0]!.start,
      end: group.reduce((max, w) => Math.max(max, w.end), group[0]!.start),
      text: joinWords(group),
      words: group,
    };
    const speaker = group[0]!.speaker;
    return speaker === undefined ? base : { ...base, speaker };
  });
}

/**
 * Word error rate, for measuring engines and chunking strategies against a known script.
 * WER = (substitutions + deletions + insertions) / reference words, over a minimal word alignment.
 */

/**
 * Splits text into comparable words: lowercase, hyphens and dashes split words, other punctuation
 * is removed, and an apostrophe inside a word is kept ("don't", "o'clock") so that contractions
 * count as one word, as recognizers write them.
 */
export function normalizeWords(text: string): string[] {
  return text
    .normalize("NFKC")
    .toLowerCase()
    .replace(/[’‘ʼ`]/g, "'")
    .replace(/[-‐‑‒–—―_/]/g, " ")
    .split(/\s+/)
    .map((token) => token.replace(/[^\p{L}\p{N}']/gu, "").replace(/^'+|'+$/g, ""))
    .filter((token) => token !== "");
}

export interface WordErrorRate {
  /** (S + D + I) / referenceWords; 0 when both are empty, Infinity for words against an empty reference. */
  readonly wer: number;
  readonly substitutions: number;
  readonly deletions: number;
  readonly insertions: number;
  readonly referenceWords: number;
}

/**
 * Word error rate of `hypothesis` against `reference` by word-level Levenshtein distance. Keeps two
 * rows of the distance table (memory O(hypothesis words)), each cell carrying its S/D/I counts, so a
 * one-hour episode (~10k words) costs ~10^8 cell updates and no backtrace table.
 */
export function wordErrorRate(reference: string, hypothesis: string): WordErrorRate {
  const ref = internWords(normalizeWords(reference));
  const hyp = internWords(normalizeWords(hypothesis), ref.ids);
  const n = ref.words.length;
  const m = hyp.words.length;

  // Row j of the table: cost and counts to turn ref[0..i) into hyp[0..j).
  let cost = new Int32Array(m + 1);
  let subs = new Int32Array(m + 1);
  let dels = new Int32Array(m + 1);
  let ins = new Int32Array(m + 1);
  for (let j = 0; j <= m; j++) {
    cost[j] = j;
    ins[j] = j;
  }
  let nextCost = new Int32Array(m + 1);
  let nextSubs = new Int32Array(m + 1);
  let nextDels = new Int32Array(m + 1);
  let nextIns = new Int32Array(m + 1);

  for (let i = 1; i <= n; i++) {
    const r = ref.words[i - 1]!;
    nextCost[0] = i;
    nextSubs[0] = 0;
    nextDels[0] = i;
    nextIns[0] = 0;
    for (let j = 1; j <= m; j++) {
      const mismatch = r === hyp.words[j - 1] ? 0 : 1;
      const diagonal = cost[j - 1]! + mismatch;
      const deletion = cost[j]! + 1;
      const insertion = nextCost[j - 1]! + 1;
      // Ties prefer the diagonal (match or substitution), then deletion, then insertion.
      if (diagonal <= deletion && diagonal <= insertion) {
        nextCost[j] = diagonal;
        nextSubs[j] = subs[j - 1]! + mismatch;
        nextDels[j] = dels[j - 1]!;
        nextIns[j] = ins[j - 1]!;
      } else if (deletion <= insertion) {
        nextCost[j] = deletion;
        nextSubs[j] = subs[j]!;
        nextDels[j] = dels[j]! + 1;
        nextIns[j] = ins[j]!;
      } else {
        nextCost[j] = insertion;
        nextSubs[j] = nextSubs[j - 1]!;
        nextDels[j] = nextDels[j - 1]!;
        nextIns[j] = nextIns[j - 1]! + 1;
      }
    }
    [cost, nextCost] = [nextCost, cost];
    [subs, nextSubs] = [nextSubs, subs];
    [dels, nextDels] = [nextDels, dels];
    [ins, nextIns] = [nextIns, ins];
  }

  const substitutions = subs[m]!;
  const deletions = dels[m]!;
  const insertions = ins[m]!;
  const errors = substitutions + deletions + insertions;
  const wer = n === 0 ? (errors === 0 ? 0 : Number.POSITIVE_INFINITY) : errors / n;
  return { wer, substitutions, deletions, insertions, referenceWords: n };
}

/** Maps words to small integers so the inner loop compares numbers, not strings. */
function internWords(words: readonly string[], ids: Map<string, number> = new Map()): { words: Int32Array; ids: Map<string, number> } {
  const out = new Int32Array(words.length);
  words.forEach((word, i) => {
    let id = ids.get(word);
    if (id === undefined) {
      id = ids.size;
      ids.set(word, id);
    }
    out[i] = id;
  });
  return { words: out, ids };
}

/**
 * Where a chunked run differs from the unchunked run of the same audio, on the timeline. Both runs
 * are aligned word by word (minimal edit distance on the word texts) and every edit gets a time:
 * a substituted or dropped direct-run word at its midpoint, an extra stitched word at its own. The
 * accuracy benchmark then splits the edits by where they fall against the seams, to tell a cost at
 * the cut (words around it recognised differently) from a cost of decoding each chunk on its own
 * (a cold decoder at the start of a chunk, or anywhere in it).
 */
import type { TimedWord } from "../orchestrator/transcript/stitch.ts";

/** One difference between the runs: where it is (seconds on the episode timeline). */
export interface WordEdit {
  readonly kind: "substitution" | "deletion" | "insertion";
  readonly at: number;
}

const mid = (w: TimedWord): number => (w.start + w.end) / 2;

/**
 * The edits that turn `direct` into `stitched`, by a minimal word alignment with a backtrace (ties:
 * match or substitution first, then deletion, then insertion, as wer.ts counts). O(n·m) time and
 * one byte of memory per cell: a 5-minute episode is about a million cells.
 */
export function wordEdits(direct: readonly TimedWord[], stitched: readonly TimedWord[]): WordEdit[] {
  const n = direct.length;
  const m = stitched.length;
  const width = m + 1;
  // 0 diagonal, 1 deletion (direct word dropped), 2 insertion (stitched word extra)
  const move = new Uint8Array((n + 1) * width);
  let row = new Int32Array(width);
  let next = new Int32Array(width);
  for (let j = 0; j <= m; j++) {
    row[j] = j;
    move[j] = 2;
  }
  for (let i = 1; i <= n; i++) {
    next[0] = i;
    move[i * width] = 1;
    const d = direct[i - 1]!.text;
    for (let j = 1; j <= m; j++) {
      const diagonal = row[j - 1]! + (d === stitched[j - 1]!.text ? 0 : 1);
      const deletion = row[j]! + 1;
      const insertion = next[j - 1]! + 1;
      if (diagonal <= deletion && diagonal <= insertion) {
        next[j] = diagonal;
        move[i * width + j] = 0;
      } else if (deletion <= insertion) {
        next[j] = deletion;
        move[i * width + j] = 1;
      } else {
        next[j] = insertion;
        move[i * width + j] = 2;
      }
    }
    [row, next] = [next, row];
  }
  const edits: WordEdit[] = [];
  let i = n;
  let j = m;
  while (i > 0 || j > 0) {
    const step = move[i * width + j]!;
    if (step === 0) {
      if (direct[i - 1]!.text !== stitched[j - 1]!.text) edits.push({ kind: "substitution", at: mid(direct[i - 1]!) });
      i--;
      j--;
    } else if (step === 1) {
      edits.push({ kind: "deletion", at: mid(direct[i - 1]!) });
      i--;
    } else {
      edits.push({ kind: "insertion", at: mid(stitched[j - 1]!) });
      j--;
    }
  }
  return edits.reverse();
}

/** Edits counted by place against the seams, and the audio seconds each place covers (to compare rates). */
export interface EditPlaces {
  /** Up to `nearSec` before a seam: the end of a chunk's core, decoded without what follows. */
  beforeSeam: number;
  /** Up to `nearSec` after a seam: the start of a core. */
  atSeamStart: number;
  /** The `coldSec` after that: a decoder that started cold a few seconds earlier. */
  afterSeam: number;
  /** Everywhere else (including the first chunk's start and the last chunk's end). */
  elsewhere: number;
  beforeSeamSec: number;
  atSeamStartSec: number;
  afterSeamSec: number;
  elsewhereSec: number;
}

type Place = "beforeSeam" | "atSeamStart" | "afterSeam" | "elsewhere";

/** Every place at zero: the start of a count, and of a sum over voices. */
export function noEditPlaces(): EditPlaces {
  return {
    beforeSeam: 0,
    atSeamStart: 0,
    afterSeam: 0,
    elsewhere: 0,
    beforeSeamSec: 0,
    atSeamStartSec: 0,
    afterSeamSec: 0,
    elsewhereSec: 0,
  };
}

/**
 * Splits `edits` by place against `seams` (seconds) on an episode of `durationSec`: within `nearSec`
 * before a seam, within `nearSec` after it, in the `coldSec` after that, or elsewhere. A time that
 * is in two places (seams close together) counts in the first of that order.
 */
export function editPlaces(edits: readonly WordEdit[], seams: readonly number[], durationSec: number, nearSec = 2, coldSec = 10): EditPlaces {
  const place = (t: number): Place => {
    if (seams.some((s) => t <= s && s - t <= nearSec)) return "beforeSeam";
    if (seams.some((s) => t > s && t - s <= nearSec)) return "atSeamStart";
    if (seams.some((s) => t - s > nearSec && t - s <= nearSec + coldSec)) return "afterSeam";
    return "elsewhere";
  };
  const out = noEditPlaces();
  for (const e of edits) out[place(e.at)]++;
  // the seconds each place covers, on a 10 ms grid
  const step = 0.01;
  for (let k = 0; (k + 0.5) * step < durationSec; k++) out[`${place((k + 0.5) * step)}Sec`] += step;
  return out;
}

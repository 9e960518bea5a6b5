/**
 * The accuracy benchmark's tallies and its report (bench/accuracy.ts): one Cell per configuration,
 * printed as a table, then one JSON line with everything, per episode too.
 */
import { SAMPLE_RATE } from "../contract/wire.ts";
import { wordErrorRate } from "../orchestrator/transcript/wer.ts";
import { noEditPlaces, type EditPlaces } from "./word-diff.ts";

/** What the report needs to say about a run. */
export interface RunInfo {
  set: string;
  engine: string;
  wallSec: number;
  /** Audio seconds decoded in this run (cache hits excluded). */
  decodedNowSec: number;
  episodes: ReadonlyArray<{ id: string; voice: string; samples: number; reference: string }>;
  /** How a mode reads in the table ("pad 2 s"). */
  modeLabel: (mode: string) => string;
}

export interface Cell {
  errors: number;
  refWords: number;
  seams: number;
  inSpeech: number;
  cutsInWord: number;
  lost: number;
  duplicated: number;
  changed: number;
  matched: number;
  tsSumMs: number;
  tsMaxMs: number;
  audioSec: number;
  decodedSec: number;
  /** Edits against the direct run by place (word-diff.ts), and the audio seconds of each place. */
  places: EditPlaces;
  /** Per silence length at the cut: seams, and edits within SEAM_WINDOW_SEC of them. */
  bySilence: Record<string, { seams: number; edits: number }>;
}

export const emptyCell = (): Cell => ({
  errors: 0,
  refWords: 0,
  seams: 0,
  inSpeech: 0,
  cutsInWord: 0,
  lost: 0,
  duplicated: 0,
  changed: 0,
  matched: 0,
  tsSumMs: 0,
  tsMaxMs: 0,
  audioSec: 0,
  decodedSec: 0,
  places: noEditPlaces(),
  bySilence: {},
});

/** Buckets of the silence a cut fell in (seconds): in speech, a short pause, a sentence break, a paragraph break. */
export function silenceBucket(sec: number): string {
  if (sec === 0) return "speech";
  if (sec < 0.5) return "<0.5s";
  if (sec < 1) return "0.5-1s";
  return ">=1s";
}

export const round = (x: number, digits = 4): number => Number(x.toFixed(digits));
const pct = (c: Cell): number => (100 * c.errors) / c.refWords;

/** Prints the table (Δ against the direct run; edits per minute of audio by place) and the JSON line. */
export function report(direct: Cell, farm: Map<string, Cell>, perEpisode: Record<string, Record<string, number>>, run: RunInfo): void {
  const header = [
    "run",
    "chunk s",
    "seams by",
    "WER %",
    "Δ pts",
    "audio ×",
    "seams",
    "in speech",
    "cut in word",
    "lost",
    "dup",
    "changed",
    "ts mean ms",
    "ts max ms",
    "Δ/min -2..0 s",
    "0..2 s",
    "2..12 s",
    "elsewhere",
  ];
  const directRow = ["direct", "whole", "", pct(direct).toFixed(2), "", "1.00"];
  const rows: string[][] = [[...directRow, ...header.slice(directRow.length).map(() => "")]];
  // edits against the direct run per minute of audio in each place
  const rate = (edits: number, sec: number): string => (sec > 0 ? ((60 * edits) / sec).toFixed(2) : "");
  const json: Record<string, unknown> = {};
  for (const [key, c] of farm) {
    const [finder, len, mode] = key.split(":") as [string, string, string];
    const tsMean = c.matched === 0 ? 0 : Math.round(c.tsSumMs / c.matched);
    const delta = pct(c) - pct(direct);
    const by = run.modeLabel(mode);
    const decodedRatio = c.decodedSec / c.audioSec;
    rows.push([
      `farm/${finder}`,
      len,
      by,
      pct(c).toFixed(2),
      (delta >= 0 ? "+" : "") + delta.toFixed(2),
      decodedRatio.toFixed(2),
      String(c.seams),
      String(c.inSpeech),
      String(c.cutsInWord),
      String(c.lost),
      String(c.duplicated),
      String(c.changed),
      String(tsMean),
      String(c.tsMaxMs),
      rate(c.places.beforeSeam, c.places.beforeSeamSec),
      rate(c.places.atSeamStart, c.places.atSeamStartSec),
      rate(c.places.afterSeam, c.places.afterSeamSec),
      rate(c.places.elsewhere, c.places.elsewhereSec),
    ]);
    json[key] = {
      wer: round(c.errors / c.refWords),
      deltaPoints: round(delta, 2),
      decodedRatio: round(decodedRatio, 3),
      seams: c.seams,
      inSpeech: c.inSpeech,
      cutsInWord: c.cutsInWord,
      lost: c.lost,
      duplicated: c.duplicated,
      changed: c.changed,
      tsMeanMs: tsMean,
      tsMaxMs: c.tsMaxMs,
      editsByPlace: Object.fromEntries((Object.entries(c.places) as Array<[string, number]>).map(([k, v]) => [k, Math.round(v)])),
      editsBySilenceAtCut: c.bySilence,
    };
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string =>
    r
      .map((v, i) => v.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  process.stdout.write([line(header), ...rows.map(line)].join("\n") + "\n");
  const eps = run.episodes.map((e) => ({
    id: e.id,
    voice: e.voice,
    durationSec: round(e.samples / SAMPLE_RATE, 1),
    referenceWords: wordErrorRate(e.reference, "").referenceWords,
  }));
  process.stdout.write(
    JSON.stringify({
      bench: "accuracy",
      set: run.set,
      engine: run.engine,
      wallSec: Math.round(run.wallSec),
      decodedNowSec: Math.round(run.decodedNowSec),
      episodes: eps,
      direct: { wer: round(direct.errors / direct.refWords) },
      farm: json,
      perEpisode,
    }) + "\n",
  );
}

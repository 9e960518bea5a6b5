/**
 * The accuracy benchmark's episodes: corpus paragraphs spoken by different flite voices, joined
 * with chosen pauses (0 = the next paragraph starts straight after the last sound of the one
 * before, no pause at all). Each paragraph is synthesized once (cached by test/support/speech.ts),
 * decoded to 16 kHz PCM by the same ffmpeg call ingest uses, trimmed of flite's own edge silence,
 * and joined in memory.
 */
import fs from "node:fs";
import path from "node:path";
import { BYTES_PER_SAMPLE, decodeToPcm } from "../orchestrator/ingest/audio-decode.ts";
import { COOKING_TEXT, GARDEN_TEXT, RIVER_TOWN_TEXT, type CorpusText } from "../test/support/corpus.ts";
import { synthesizeEpisode, type FliteVoice } from "../test/support/speech.ts";

export interface BenchEpisodeSpec {
  id: string;
  voice: FliteVoice;
  text: CorpusText;
  /** How many of the text's paragraphs to speak (from the start). */
  paragraphs: number;
  /** Pause after paragraph i, seconds; one per gap (paragraphs - 1). */
  pauses: number[];
}

export interface BenchEpisode {
  spec: BenchEpisodeSpec;
  /** 16-bit mono PCM at 16 kHz. */
  pcm: Buffer;
  samples: number;
  /** The spoken script (the WER reference). */
  reference: string;
}

export const FULL_SET: BenchEpisodeSpec[] = [
  { id: "garden-rms", voice: "rms", text: GARDEN_TEXT, paragraphs: 5, pauses: [1.2, 0, 2.5, 0.4] },
  { id: "cooking-awb", voice: "awb", text: COOKING_TEXT, paragraphs: 5, pauses: [0.6, 0, 0, 1.5] },
  { id: "river-kal16", voice: "kal16", text: RIVER_TOWN_TEXT, paragraphs: 4, pauses: [0, 1.0, 0.3] },
];

export const QUICK_SET: BenchEpisodeSpec[] = [FULL_SET[0]!];

/** Amplitude below which an edge sample counts as the synthesizer's lead-in/trail-out silence. */
const EDGE_SILENCE = 64;

/** The synthesized speech without its lead-in and trail-out silence (shared by the accuracy sets). */
export function trimEdges(pcm: Buffer): Buffer {
  const n = pcm.length / BYTES_PER_SAMPLE;
  let a = 0;
  let b = n;
  while (a < b && Math.abs(pcm.readInt16LE(a * BYTES_PER_SAMPLE)) < EDGE_SILENCE) a++;
  while (b > a && Math.abs(pcm.readInt16LE((b - 1) * BYTES_PER_SAMPLE)) < EDGE_SILENCE) b--;
  return pcm.subarray(a * BYTES_PER_SAMPLE, b * BYTES_PER_SAMPLE);
}

/** Synthesize (or load from cache) and join one episode; `dir` is scratch space the caller removes. */
export async function buildEpisode(spec: BenchEpisodeSpec, dir: string, sampleRate: number): Promise<BenchEpisode> {
  const paras = spec.text.paragraphs.slice(0, spec.paragraphs);
  if (spec.pauses.length !== paras.length - 1) throw new Error(`${spec.id}: need ${paras.length - 1} pauses`);
  const parts: Buffer[] = [];
  for (const [i, p] of paras.entries()) {
    const wav = await synthesizeEpisode({ paragraphs: [p], voice: spec.voice, dir });
    const pcmPath = path.join(dir, `${spec.id}-${i}.pcm`);
    await decodeToPcm(wav.path, pcmPath);
    parts.push(trimEdges(fs.readFileSync(pcmPath)));
    const pause = spec.pauses[i];
    if (pause !== undefined) parts.push(Buffer.alloc(Math.round(pause * sampleRate) * BYTES_PER_SAMPLE));
  }
  // Half a second of silence at both ends, like a real recording's lead-in.
  const edge = Buffer.alloc(Math.round(0.5 * sampleRate) * BYTES_PER_SAMPLE);
  const pcm = Buffer.concat([edge, ...parts, edge]);
  return { spec, pcm, samples: pcm.length / BYTES_PER_SAMPLE, reference: paras.join("\n\n") };
}

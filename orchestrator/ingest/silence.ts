/**
 * Finds silent stretches in 16-bit mono PCM by frame energy. The threshold adapts to the
 * recording: a few dB above its quietest frames, clamped to a sane range, so digital silence in
 * synthesized audio and room tone in a real podcast both read as silence.
 */
import fs from "node:fs";
import { BYTES_PER_SAMPLE } from "./audio-decode.ts";

export interface Silence {
  /** First sample of the silent stretch. */
  start: number;
  /** One past the last sample. */
  end: number;
  /** Sample with the lowest energy inside the stretch (the best place to cut). */
  quietest: number;
}

export interface SilenceOptions {
  frameMs?: number;
  minSilenceMs?: number;
  /** dB above the 10th-percentile frame energy that still counts as silence. */
  marginDb?: number;
  minThresholdDb?: number;
  maxThresholdDb?: number;
}

const DEFAULTS = { frameMs: 20, minSilenceMs: 250, marginDb: 12, minThresholdDb: -60, maxThresholdDb: -32 };

/** Frame energies in dBFS, read from a PCM file in blocks (never the whole file at once). */
export async function frameEnergies(pcmPath: string, sampleRate: number, frameMs = DEFAULTS.frameMs): Promise<Float32Array> {
  const frame = Math.round((sampleRate * frameMs) / 1000);
  const totalSamples = Math.floor(fs.statSync(pcmPath).size / BYTES_PER_SAMPLE);
  const energies = new Float32Array(Math.ceil(totalSamples / frame));
  const blockFrames = 4096;
  const buf = Buffer.alloc(blockFrames * frame * BYTES_PER_SAMPLE);
  const fh = await fs.promises.open(pcmPath, "r");
  try {
    let f = 0;
    for (let pos = 0; pos < totalSamples * BYTES_PER_SAMPLE; pos += buf.length) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      const samples = Math.floor(bytesRead / BYTES_PER_SAMPLE);
      for (let s = 0; s < samples; s += frame, f++) {
        const end = Math.min(s + frame, samples);
        let sum = 0;
        for (let i = s; i < end; i++) {
          const v = buf.readInt16LE(i * BYTES_PER_SAMPLE) / 32768;
          sum += v * v;
        }
        const rms = Math.sqrt(sum / Math.max(1, end - s));
        energies[f] = rms > 0 ? 20 * Math.log10(rms) : -120;
      }
    }
  } finally {
    await fh.close();
  }
  return energies;
}

export function silenceThresholdDb(energies: Float32Array, opts: SilenceOptions = {}): number {
  const o = { ...DEFAULTS, ...opts };
  if (energies.length === 0) return o.minThresholdDb;
  const sorted = Float32Array.from(energies).sort();
  const p10 = sorted[Math.floor(sorted.length * 0.1)]!;
  return Math.min(o.maxThresholdDb, Math.max(o.minThresholdDb, p10 + o.marginDb));
}

/** Silent stretches at least `minSilenceMs` long, in sample units. */
export function findSilences(energies: Float32Array, sampleRate: number, opts: SilenceOptions = {}): Silence[] {
  const o = { ...DEFAULTS, ...opts };
  const frame = Math.round((sampleRate * o.frameMs) / 1000);
  const minFrames = Math.ceil(o.minSilenceMs / o.frameMs);
  const threshold = silenceThresholdDb(energies, o);
  const out: Silence[] = [];
  let runStart = -1;
  for (let f = 0; f <= energies.length; f++) {
    const quiet = f < energies.length && energies[f]! <= threshold;
    if (quiet && runStart < 0) runStart = f;
    if (!quiet && runStart >= 0) {
      if (f - runStart >= minFrames) {
        let q = runStart;
        // Prefer the middle among equally quiet frames: cut as far from speech as possible.
        const mid = (runStart + f - 1) / 2;
        for (let i = runStart; i < f; i++) {
          const better = energies[i]! < energies[q]! || (energies[i] === energies[q] && Math.abs(i - mid) < Math.abs(q - mid));
          if (better) q = i;
        }
        out.push({ start: runStart * frame, end: f * frame, quietest: q * frame + Math.floor(frame / 2) });
      }
      runStart = -1;
    }
  }
  return out;
}

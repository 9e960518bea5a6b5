/**
 * ffmpeg's `silencedetect` filter as an alternative silence finder, for the accuracy benchmark's
 * comparison with our energy pass (orchestrator/ingest/silence.ts). It takes a fixed noise floor
 * and reports start/end only, so the cut goes in the middle of each silence.
 */
import { execFile } from "node:child_process";
import type { Silence } from "../orchestrator/ingest/silence.ts";

export interface SilencedetectOptions {
  /** Noise floor in dBFS below which audio counts as silence. */
  noiseDb?: number;
  /** Shortest silence reported, seconds (same as the energy pass's 250 ms). */
  minSec?: number;
}

/** Silences of a WAV/any audio file by `ffmpeg -af silencedetect`, in samples at `sampleRate`. */
export function ffmpegSilences(audioPath: string, sampleRate: number, opts: SilencedetectOptions = {}): Promise<Silence[]> {
  const filter = `silencedetect=noise=${opts.noiseDb ?? -40}dB:d=${opts.minSec ?? 0.25}`;
  return new Promise((resolve, reject) => {
    execFile(
      "ffmpeg",
      ["-hide_banner", "-nostdin", "-i", audioPath, "-af", filter, "-f", "null", "-"],
      { maxBuffer: 64 << 20 },
      (err, _out, stderr) => {
        if (err) return reject(new Error(`ffmpeg silencedetect failed: ${stderr.slice(-500)}`, { cause: err }));
        const out: Silence[] = [];
        let start: number | undefined;
        for (const m of stderr.matchAll(/silence_(start|end): (-?[\d.]+)/g)) {
          const at = Math.max(0, Math.round(Number(m[2]) * sampleRate));
          if (m[1] === "start") start = at;
          else if (start !== undefined) {
            out.push({ start, end: at, quietest: Math.round((start + at) / 2) });
            start = undefined;
          }
        }
        resolve(out);
      },
    );
  });
}

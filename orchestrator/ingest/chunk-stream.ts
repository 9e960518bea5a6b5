/**
 * Cuts decoded PCM into chunk WAVs while it is still being decoded: the silence detector and the
 * chunk planner run on each piece of PCM as it arrives, and a chunk is handed out as soon as its
 * cut is fixed AND the decoded audio reaches the end of its padded audio span (chunk-context.ts),
 * or the audio ends. The chunks are exactly those padCores makes of the whole episode's cores. Only
 * the PCM a chunk may still need is kept in memory (about one chunk and a search window), so an
 * hour-long episode never sits whole in memory or on disk as PCM.
 */
import { SAMPLE_RATE } from "../../contract/wire.ts";
import type { PlannedChunk } from "../store/episode-store.ts";
import { BYTES_PER_SAMPLE, wavHeader } from "./audio-decode.ts";
import { coreSides, DEFAULT_CHUNK_PAD, padCore, padSamples, type SidePadding, widestSide } from "./chunk-context.ts";
import { ChunkPlanner, type ChunkCore, type PlanOptions, type PlanResume } from "./chunk-plan.ts";
import { SilenceDetector } from "./silence.ts";

export interface ReadyChunk {
  chunk: PlannedChunk;
  /** The chunk's audio span as a complete WAV file. */
  wav: Buffer;
}

export class ChunkStream {
  private readonly planner: ChunkPlanner;
  private readonly detector: SilenceDetector;
  /** Cores whose cut is fixed, waiting for the audio to reach their span's end. */
  private readonly pending: ChunkCore[] = [];
  /** Decoded PCM kept, from sample `base` on. */
  private pieces: Buffer[] = [];
  private base = 0;
  private samplesSeen = 0;
  private carry = Buffer.alloc(0);
  private ended = false;
  /** Context padding before and after a core, samples. */
  private readonly pad: SidePadding;

  /** `padSec`: context padding around each core, seconds (one number: both sides). */
  constructor(chunkSeconds: number, opts: PlanOptions = {}, resume?: PlanResume, padSec: number | SidePadding = DEFAULT_CHUNK_PAD) {
    const rate = opts.sampleRate ?? SAMPLE_RATE;
    this.pad = padSamples(padSec, rate);
    this.planner = new ChunkPlanner(chunkSeconds, opts, resume);
    this.detector = new SilenceDetector(rate);
  }

  /** Samples decoded so far. */
  get samples(): number {
    return this.samplesSeen;
  }

  /** Feed decoded s16le PCM (any length); returns the chunks that became ready. */
  push(pcm: Buffer): ReadyChunk[] {
    if (this.ended) throw new Error("ChunkStream.push after end");
    const bytes = this.carry.length > 0 ? Buffer.concat([this.carry, pcm]) : pcm;
    const whole = bytes.length - (bytes.length % BYTES_PER_SAMPLE);
    this.carry = Buffer.from(bytes.subarray(whole));
    if (whole === 0) return [];
    const piece = bytes.subarray(0, whole);
    this.pieces.push(piece);
    this.samplesSeen += whole / BYTES_PER_SAMPLE;
    for (const s of this.detector.push(piece)) this.planner.addSilence(s);
    this.pending.push(...this.planner.advance(this.detector.settled));
    return this.emit(false);
  }

  /** The audio ended: every remaining chunk. Throws if no audio came at all. */
  end(): ReadyChunk[] {
    if (this.ended) return [];
    this.ended = true;
    for (const s of this.detector.end()) this.planner.addSilence(s);
    if (this.samplesSeen === 0) return [];
    this.pending.push(...this.planner.finish(this.samplesSeen));
    return this.emit(true);
  }

  private emit(atEnd: boolean): ReadyChunk[] {
    const out: ReadyChunk[] = [];
    while (this.pending.length > 0) {
      const core = this.pending[0]!;
      if (!atEnd && core.endSample + coreSides(core, this.pad).after > this.samplesSeen) break;
      this.pending.shift();
      const chunk = padCore(core, this.pad, this.samplesSeen);
      out.push({ chunk, wav: this.slice(chunk.startSample, chunk.endSample) });
    }
    this.prune();
    return out;
  }

  /** Samples [start, end) as a WAV file. */
  private slice(start: number, end: number): Buffer {
    const parts: Buffer[] = [wavHeader(end - start)];
    let at = this.base;
    for (const p of this.pieces) {
      const n = p.length / BYTES_PER_SAMPLE;
      const from = Math.max(start, at);
      const to = Math.min(end, at + n);
      if (from < to) parts.push(p.subarray((from - at) * BYTES_PER_SAMPLE, (to - at) * BYTES_PER_SAMPLE));
      at += n;
    }
    if (start < this.base) throw new Error(`chunk audio from sample ${start} was already dropped (kept from ${this.base})`);
    return Buffer.concat(parts);
  }

  /** Drop PCM no chunk can still need: before the padded start of the first pending (or next) core (cut in speech or not). */
  private prune(): void {
    const keepFrom = Math.max(0, (this.pending[0] ?? this.planner.next).startSample - widestSide(this.pad));
    while (this.pieces.length > 0) {
      const n = this.pieces[0]!.length / BYTES_PER_SAMPLE;
      if (this.base + n > keepFrom) break;
      this.pieces.shift();
      this.base += n;
    }
  }
}

/**
 * Bounded concurrency for ingest, in two separate pools: downloads (network-bound, and as slow as
 * the slowest host) and processing (probe, decode, cut: CPU-bound, local bytes). An upload only
 * ever takes a processing slot, so downloads trickling in from slow hosts cannot keep it waiting.
 */
import type { IngestSlots } from "../ingest/ingest-episode.ts";

/** A counting semaphore: `run(fn)` runs `fn` once fewer than `size` others run; waiters go first come, first served. */
export class Slots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`slot count must be a positive integer, got ${size}`);
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.size) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the slot is handed over as is
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }

  /** Slots in use now. */
  get busy(): number {
    return this.active;
  }
}

/** The two pools ingest uses (ingest/ingest-episode.ts). */
export function ingestSlots(limits: { downloads: number; processing: number }): IngestSlots & { downloads: Slots; processing: Slots } {
  const downloads = new Slots(limits.downloads);
  const processing = new Slots(limits.processing);
  return { downloads, processing, download: (fn) => downloads.run(fn), process: (fn) => processing.run(fn) };
}

/**
 * Bounded concurrency for ingest, in three separate pools: downloads (network-bound, and as slow as
 * the slowest host), uploads decoded while they arrive (as slow as the slowest client), and
 * processing (probe, decode, cut of a complete file: CPU-bound, local bytes). Separate, so that
 * downloads trickling in from slow hosts cannot keep an upload waiting, nor a client trickling its
 * upload keep a download or a file waiting. An upload waiting for a receiving slot is not held
 * back: its bytes go on landing in its file, and its decode catches up from there.
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

/** The three pools ingest uses (ingest/ingest-episode.ts). */
export function ingestSlots(limits: {
  downloads: number;
  receiving: number;
  processing: number;
}): IngestSlots & { downloads: Slots; receiving: Slots; processing: Slots } {
  const downloads = new Slots(limits.downloads);
  const receiving = new Slots(limits.receiving);
  const processing = new Slots(limits.processing);
  return {
    downloads,
    receiving,
    processing,
    download: (fn) => downloads.run(fn),
    receive: (fn) => receiving.run(fn),
    process: (fn) => processing.run(fn),
  };
}

/**
 * Runs a background pass (autoscaler, sweeper, feed poller) every `intervalMs`, one at a time,
 * each bounded by a timeout. `wake()` runs the next pass now (a new backlog should not wait for
 * the timer); `stop()` waits for a pass in flight to end. A stopped runner can be started again
 * (a leader's duties stop when it is deposed and start when it is elected again); before `start()`
 * and after `stop()`, `wake()` does nothing.
 *
 * With `wakeGapMs`, a wake runs its pass no sooner than that long after the last pass ended: a
 * burst of wakes (the autoscaler's: one per chunk job published, 60 in a few seconds for an hour's
 * episode) then runs a pass every so often instead of back to back, and a wake after a quiet
 * spell still runs one at once.
 */
import type { Logger } from "./log.ts";

export class PassRunner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  /** When the last pass ended (ms epoch), and when the scheduled one is due. */
  private lastEndAt = -Infinity;
  private dueAt: number | undefined;

  constructor(
    private readonly name: string,
    private readonly pass: (signal: AbortSignal) => Promise<unknown>,
    private readonly opts: { intervalMs: number; timeoutMs: number; log: Logger; wakeGapMs?: number },
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Run a pass as soon as the current one (if any) ends, and no sooner than `wakeGapMs` after it. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const now = Date.now();
    const at = Math.max(now, this.lastEndAt + (this.opts.wakeGapMs ?? 0));
    if (this.dueAt !== undefined && this.dueAt <= at) return; // a pass is due sooner anyway
    this.schedule(at - now);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.dueAt = undefined;
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.dueAt = Date.now() + delayMs;
    this.timer = setTimeout(() => {
      this.dueAt = undefined;
      this.running = this.runOnce().finally(() => {
        this.running = undefined;
        this.lastEndAt = Date.now();
        const next = this.again ? Math.min(this.opts.wakeGapMs ?? 0, this.opts.intervalMs) : this.opts.intervalMs;
        this.again = false;
        this.schedule(next);
      });
    }, delayMs);
  }

  private async runOnce(): Promise<void> {
    const signal = AbortSignal.timeout(this.opts.timeoutMs);
    try {
      await Promise.race([
        this.pass(signal),
        new Promise((_, reject) =>
          signal.addEventListener("abort", () => reject(new Error(`${this.name} pass timed out after ${this.opts.timeoutMs} ms`)), { once: true }),
        ),
      ]);
    } catch (err) {
      this.opts.log.warn(`${this.name} pass failed`, { error: err });
    }
  }
}

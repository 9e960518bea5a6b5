/**
 * Runs a background pass (autoscaler, sweeper, feed poller) every `intervalMs`, one at a time,
 * each bounded by a timeout. `wake()` runs the next pass now (a new backlog should not wait for
 * the timer); `stop()` waits for a pass in flight to end. A stopped runner can be started again
 * (a leader's duties stop when it is deposed and start when it is elected again); before `start()`
 * and after `stop()`, `wake()` does nothing.
 *
 * With `wakeGapMs`, a wake runs its pass no sooner than that long after the last pass a wake ran
 * ended: a burst of wakes (the autoscaler's: one per chunk job published, 60 in a few seconds for
 * an hour's episode) then runs a pass every so often instead of back to back, while the first wake
 * after the timer's passes (the first chunk of a backlog) still runs one at once.
 */
import type { Logger } from "./log.ts";

export class PassRunner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  /** When the last pass a wake asked for ended (ms epoch); when the scheduled one is due, and whether a wake asked for it. */
  private lastWokenEndAt = -Infinity;
  private dueAt: number | undefined;
  private dueByWake = false;

  constructor(
    private readonly name: string,
    private readonly pass: (signal: AbortSignal) => Promise<unknown>,
    private readonly opts: { intervalMs: number; timeoutMs: number; log: Logger; wakeGapMs?: number },
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0, false);
  }

  /** Run a pass as soon as the current one (if any) ends, and no sooner than `wakeGapMs` after the last pass a wake ran. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const now = Date.now();
    const at = Math.max(now, this.lastWokenEndAt + (this.opts.wakeGapMs ?? 0));
    if (this.dueAt !== undefined && this.dueAt <= at) return; // a pass is due sooner anyway
    this.schedule(at - now, true);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.dueAt = undefined;
    await this.running;
  }

  private schedule(delayMs: number, byWake: boolean): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.dueAt = Date.now() + delayMs;
    this.dueByWake = byWake;
    this.timer = setTimeout(() => {
      const woken = this.dueByWake;
      this.dueAt = undefined;
      this.running = this.runOnce().finally(() => {
        this.running = undefined;
        if (woken) this.lastWokenEndAt = Date.now();
        const again = this.again;
        this.again = false;
        // woken while it ran: at once after a timer's pass, after the gap after a wake's
        if (again) this.schedule(woken ? Math.min(this.opts.wakeGapMs ?? 0, this.opts.intervalMs) : 0, true);
        else this.schedule(this.opts.intervalMs, false);
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

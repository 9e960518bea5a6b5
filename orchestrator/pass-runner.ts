/**
 * Runs a background pass (autoscaler, sweeper, feed poller) every `intervalMs`, one at a time,
 * each bounded by a timeout. `wake()` runs the next pass now (a new backlog should not wait for
 * the timer); `stop()` waits for a pass in flight to end. A stopped runner can be started again
 * (a leader's duties stop when it is deposed and start when it is elected again); before `start()`
 * and after `stop()`, `wake()` does nothing.
 */
import type { Logger } from "./log.ts";

export class PassRunner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;

  constructor(
    private readonly name: string,
    private readonly pass: (signal: AbortSignal) => Promise<unknown>,
    private readonly opts: { intervalMs: number; timeoutMs: number; log: Logger },
  ) {}

  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Run a pass as soon as the current one (if any) ends. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.runOnce().finally(() => {
        this.running = undefined;
        const next = this.again ? 0 : this.opts.intervalMs;
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

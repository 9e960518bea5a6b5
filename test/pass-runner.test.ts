/**
 * PassRunner's wakes: a wake runs a pass at once after a quiet spell, and with `wakeGapMs` no sooner
 * than that long after the last pass ended, however many wakes came meanwhile (the autoscaler is
 * woken once per chunk job published).
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger } from "../orchestrator/log.ts";
import { PassRunner } from "../orchestrator/pass-runner.ts";

/** Timers may fire a millisecond or two before Date.now() says they are due. */
const TIMER_SLACK_MS = 5;
const WAKE_GAP_MS = 400;

interface Pass {
  startedAt: number;
  endedAt: number;
}

/** A runner whose passes are recorded; `nth(n)` resolves once pass n (1-based) has ended; `gate` holds each pass until opened. */
function recordedRunner(t: TestContext, wakeGapMs: number | undefined) {
  const passes: Pass[] = [];
  const waiters = new Map<number, () => void>();
  let gate: Promise<void> = Promise.resolve();
  let onStart: () => void = () => undefined;
  const runner = new PassRunner(
    "test",
    async () => {
      const startedAt = Date.now();
      onStart();
      await gate;
      passes.push({ startedAt, endedAt: Date.now() });
      waiters.get(passes.length)?.();
    },
    { intervalMs: 60_000, timeoutMs: 10_000, log: createLogger("silent"), ...(wakeGapMs !== undefined ? { wakeGapMs } : {}) },
  );
  t.after(() => runner.stop());
  return {
    runner,
    passes,
    nth: (n: number): Promise<Pass> =>
      passes.length >= n ? Promise.resolve(passes[n - 1]!) : new Promise((resolve) => waiters.set(n, () => resolve(passes[n - 1]!))),
    /** Holds the next passes until `open` is called; `started` resolves when one has begun. */
    hold: (): { started: Promise<void>; open: () => void } => {
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      const started = new Promise<void>((r) => (onStart = r));
      return { started, open };
    },
  };
}

test("wakes right after a pass make one pass, no sooner than wakeGapMs after the last one ended", async (t) => {
  const { runner, passes, nth } = recordedRunner(t, WAKE_GAP_MS);
  runner.start();
  const first = await nth(1);
  for (let i = 0; i < 10; i++) runner.wake();
  const second = await nth(2);
  await runner.stop();
  assert.ok(
    second.startedAt - first.endedAt >= WAKE_GAP_MS - TIMER_SLACK_MS,
    `the second pass started ${second.startedAt - first.endedAt} ms after the first ended`,
  );
  assert.equal(passes.length, 2, "ten wakes, one pass");
});

test("wakes during a pass make one more pass after it, wakeGapMs after its end", { timeout: 30_000 }, async (t) => {
  const { runner, passes, nth, hold } = recordedRunner(t, WAKE_GAP_MS);
  const { started, open } = hold();
  runner.start();
  await started;
  for (let i = 0; i < 3; i++) runner.wake();
  open();
  const first = await nth(1);
  const second = await nth(2);
  await runner.stop();
  assert.ok(
    second.startedAt - first.endedAt >= WAKE_GAP_MS - TIMER_SLACK_MS,
    `the second pass started ${second.startedAt - first.endedAt} ms after the first ended`,
  );
  assert.equal(passes.length, 2);
});

test("a wake after a quiet spell runs a pass, long before the interval's", { timeout: 30_000 }, async (t) => {
  const { runner, nth } = recordedRunner(t, 50);
  runner.start();
  await nth(1);
  await sleep(100); // past the gap: nothing holds the next pass back
  runner.wake();
  await nth(2); // the interval is 60 s: only the wake can have run it (the test times out at 30 s)
});

test("without wakeGapMs, a wake right after a pass runs the next at once", { timeout: 30_000 }, async (t) => {
  const { runner, nth } = recordedRunner(t, undefined);
  runner.start();
  await nth(1);
  runner.wake();
  await nth(2);
});

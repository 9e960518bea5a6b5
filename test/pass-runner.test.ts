/**
 * PassRunner's wakes: with `wakeGapMs`, a burst of wakes runs a pass no sooner than that long after
 * the last pass a wake ran (the autoscaler is woken once per chunk job published), while the first
 * wake after the timer's passes, or after a quiet spell, runs one at once.
 */
import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger } from "../orchestrator/log.ts";
import { PassRunner } from "../orchestrator/pass-runner.ts";

/** Timers may fire a millisecond or two before Date.now() says they are due. */
const TIMER_SLACK_MS = 5;
const WAKE_GAP_MS = 400;
/** Longer than these tests wait: a pass held back by it would time the test out. */
const LONG_GAP_MS = 60_000;
const TEST = { timeout: 20_000 };

interface Pass {
  startedAt: number;
  endedAt: number;
}

/**
 * A runner (timer interval 120 s: every pass here is a wake's or the start's) whose passes are
 * recorded; `nth(n)` resolves once pass n (1-based) has ended; `hold()` holds the next passes until
 * `open` is called, `started` resolving when one has begun.
 */
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
    { intervalMs: 120_000, timeoutMs: 10_000, log: createLogger("silent"), ...(wakeGapMs !== undefined ? { wakeGapMs } : {}) },
  );
  t.after(() => runner.stop());
  return {
    runner,
    passes,
    nth: (n: number): Promise<Pass> =>
      passes.length >= n ? Promise.resolve(passes[n - 1]!) : new Promise((resolve) => waiters.set(n, () => resolve(passes[n - 1]!))),
    hold: (): { started: Promise<void>; open: () => void } => {
      let open!: () => void;
      gate = new Promise((r) => (open = r));
      const started = new Promise<void>((r) => (onStart = r));
      return { started, open };
    },
  };
}

test("wakes right after a wake's pass make one pass, no sooner than wakeGapMs after it ended", TEST, async (t) => {
  const { runner, passes, nth } = recordedRunner(t, WAKE_GAP_MS);
  runner.start();
  await nth(1);
  runner.wake(); // the first wake after the start's pass: at once
  const woken = await nth(2);
  for (let i = 0; i < 10; i++) runner.wake();
  const next = await nth(3);
  await runner.stop();
  assert.ok(
    next.startedAt - woken.endedAt >= WAKE_GAP_MS - TIMER_SLACK_MS,
    `the third pass started ${next.startedAt - woken.endedAt} ms after the second ended`,
  );
  assert.equal(passes.length, 3, "ten wakes, one pass");
});

test("wakes during a wake's pass make one more pass after it, wakeGapMs after its end", TEST, async (t) => {
  const { runner, passes, nth, hold } = recordedRunner(t, WAKE_GAP_MS);
  runner.start();
  await nth(1);
  const { started, open } = hold();
  runner.wake();
  await started;
  for (let i = 0; i < 3; i++) runner.wake();
  open();
  const woken = await nth(2);
  const next = await nth(3);
  await runner.stop();
  assert.ok(
    next.startedAt - woken.endedAt >= WAKE_GAP_MS - TIMER_SLACK_MS,
    `the third pass started ${next.startedAt - woken.endedAt} ms after the second ended`,
  );
  assert.equal(passes.length, 3);
});

test("a wake during the timer's pass runs the next pass at once (a new backlog does not wait for the gap)", TEST, async (t) => {
  const { runner, nth, hold } = recordedRunner(t, LONG_GAP_MS);
  const { started, open } = hold();
  runner.start();
  await started;
  runner.wake();
  open();
  await nth(2); // held back by the gap, it would come after the test's timeout
});

test("a wake after a quiet spell runs a pass at once", TEST, async (t) => {
  const { runner, nth } = recordedRunner(t, 50);
  runner.start();
  await nth(1);
  runner.wake();
  await nth(2);
  await sleep(100); // past the gap
  runner.wake();
  await nth(3); // the timer's interval is 120 s: only the wake can have run it
});

test("without wakeGapMs, wakes right after a wake's pass run the next at once", TEST, async (t) => {
  const { runner, nth } = recordedRunner(t, undefined);
  runner.start();
  await nth(1);
  runner.wake();
  await nth(2);
  runner.wake();
  await nth(3);
});

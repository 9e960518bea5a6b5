/**
 * Awaiting the orchestrator's state events (orchestrator/events/state-events.ts) instead of
 * polling the API or the store. Start watching BEFORE the action whose events you want, so an
 * event that fires before the `await` is not missed: `watchEvents` records from the moment it is
 * called, and `waitFor` looks at what was already recorded first.
 */
import type { StateEvent, StateEventMap, StateEvents, StateEventType } from "../../orchestrator/events/state-events.ts";
import type { CleanupContext } from "./ingest-stack.ts";

export interface WaitOptions {
  /** Give up after this long (default 60 s). */
  timeoutMs?: number;
  /** What the test waits for, in words: goes into the failure message. */
  what?: string;
  /** Only events recorded at or after this position (`EventWatch.mark()`) count. */
  since?: number;
}

/** A recorder of every state event since it was made; stops by itself when the test ends. */
export class EventWatch {
  /** Every event seen, in emission order. */
  readonly seen: StateEvent[] = [];
  readonly #waiters = new Set<(e: StateEvent) => void>();
  readonly #stop: () => void;

  constructor(events: StateEvents) {
    this.#stop = events.onAny((e) => {
      this.seen.push(e);
      for (const w of [...this.#waiters]) w(e);
    });
  }

  /** Events of `type` seen so far (from position `since`) that match `match`. */
  all<K extends StateEventType>(type: K, match: (e: StateEventMap[K]) => boolean = () => true, since = 0): StateEventMap[K][] {
    return this.seen.slice(since).filter((e): e is StateEventMap[K] => e.type === type && match(e as StateEventMap[K]));
  }

  /** The current position: pass it as `since` to wait only for what happens from now on. */
  mark(): number {
    return this.seen.length;
  }

  /**
   * The first event of `type` matching `match`, already seen or still to come. Rejects after the
   * timeout with what was awaited and the last events of that type that did arrive.
   */
  waitFor<K extends StateEventType>(type: K, match: (e: StateEventMap[K]) => boolean, options: WaitOptions = {}): Promise<StateEventMap[K]> {
    const found = this.all(type, match, options.since)[0];
    if (found) return Promise.resolve(found);
    const timeoutMs = options.timeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      const waiter = (e: StateEvent): void => {
        if (e.type !== type || !match(e as StateEventMap[K])) return;
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve(e as StateEventMap[K]);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        const recent = this.all(type).slice(-5).map(describe);
        reject(
          new Error(
            `timed out after ${timeoutMs} ms waiting for ${options.what ?? `a matching ${type} event`}; ` +
              (recent.length === 0 ? `no ${type} event arrived` : `last ${type} events: ${recent.join("; ")}`),
          ),
        );
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  /** Shorthand: the episode reaching `to` (any of them, if a list). */
  episode(
    episodeId: string,
    to: StateEventMap["episode:transition"]["to"] | readonly StateEventMap["episode:transition"]["to"][],
    options: WaitOptions = {},
  ) {
    const targets: readonly string[] = typeof to === "string" ? [to] : to;
    return this.waitFor("episode:transition", (e) => e.episodeId === episodeId && targets.includes(e.to), {
      what: `episode ${episodeId} to become ${targets.join(" or ")}`,
      ...options,
    });
  }

  stop(): void {
    this.#stop();
    this.#waiters.clear();
  }
}

/** Starts recording `events` now; the recorder stops when the test (or suite cleanup) ends. */
export function watchEvents(t: CleanupContext, events: StateEvents): EventWatch {
  const watch = new EventWatch(events);
  t.after(() => watch.stop());
  return watch;
}

/** One event, briefly, for failure messages. */
function describe(e: StateEvent): string {
  switch (e.type) {
    case "episode:transition":
      return `${e.episodeId} ${e.from ?? "∅"}→${e.to}${e.error ? ` (${e.error})` : ""}`;
    case "chunk:transition":
      return `${e.chunkId} ${e.from ?? "∅"}→${e.to}${e.machineId ? ` on ${e.machineId}` : ""}`;
    case "machine:transition":
      return `${e.machineId} ${e.from ?? "∅"}→${e.to} (${e.kind})`;
    case "delivery:attempt":
      return `${e.deliveryId} attempt ${e.attempt} ${e.ok ? "ok" : (e.error ?? String(e.httpStatus))} → ${e.state}`;
    case "feed:poll":
      return `${e.feedId} ${e.outcome}${e.error ? ` (${e.error})` : ""}`;
  }
}

/**
 * `GET /ui/events`: server-sent events for the dashboard, one `change` event per state
 * transition the orchestrator emits (episode, chunk, machine, …), carrying the event's type, the
 * ids it concerns and when it happened, so the page can re-read what changed and measure how long
 * that took. A comment every 15 s keeps proxies from closing an idle stream; `retry: 1000` makes
 * the browser reconnect a second after the orchestrator restarts.
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { StateEvent, StateEvents } from "../events/state-events.ts";

/** One state change, as the page needs it. */
export interface LiveEvent {
  type: string;
  /** Epoch ms when it happened (the page measures event-to-update time from it). */
  at: number;
  episodeId?: string | undefined;
  chunkId?: string | undefined;
  machineId?: string | undefined;
  feedId?: string | undefined;
}

/** Where live events come from: subscribe returns what unsubscribes. */
export interface LiveEvents {
  subscribe(listener: (event: LiveEvent) => void): () => void;
}

/** The orchestrator's state events (events/state-events.ts) as the page needs them: the type, when, and which ids. */
export function liveEventsFrom(events: Pick<StateEvents, "onAny">): LiveEvents {
  return {
    subscribe: (listener) =>
      events.onAny((e: StateEvent) => {
        listener({
          type: e.type,
          at: e.at,
          episodeId: "episodeId" in e ? e.episodeId : undefined,
          chunkId: "chunkId" in e ? e.chunkId : undefined,
          machineId: "machineId" in e ? (e.machineId ?? undefined) : undefined,
          feedId: "feedId" in e ? e.feedId : undefined,
        });
      }),
  };
}

const KEEPALIVE_MS = 15_000;

/** Open streams, so that shutdown can end them (an open stream would keep the HTTP server from closing). */
export class LiveStreams {
  readonly #open = new Set<() => void>();
  #closed = false;

  constructor(private readonly events: LiveEvents | undefined) {}

  /** Ends every open stream; later requests get a stream that ends at once. */
  close(): void {
    this.#closed = true;
    for (const end of this.#open) end();
  }

  serve(c: Context) {
    // shutting down: the browser tries again (client script), and finds the next orchestrator
    if (this.#closed) return c.json({ error: { code: "shutting_down", message: "the orchestrator is shutting down; reconnect shortly" } }, 503);
    return liveStream(c, this.events, (end) => {
      this.#open.add(end);
      return () => this.#open.delete(end);
    });
  }
}

function liveStream(c: Context, events: LiveEvents | undefined, track: (end: () => void) => () => void) {
  return streamSSE(c, async (stream) => {
    let wake: (() => void) | undefined;
    const queue: LiveEvent[] = [];
    const unsubscribe =
      events?.subscribe((e) => {
        // a slow reader keeps only the newest events: the page re-reads state anyway
        if (queue.length > 500) queue.shift();
        queue.push(e);
        wake?.();
      }) ?? (() => {});
    let closed = false;
    const end = () => {
      closed = true;
      wake?.();
    };
    stream.onAbort(end);
    const untrack = track(end);
    try {
      await stream.writeSSE({ event: "hello", data: JSON.stringify({ at: Date.now(), live: events !== undefined }), retry: 1000 });
      while (!closed) {
        const e = queue.shift();
        if (e) {
          await stream.writeSSE({ event: "change", data: JSON.stringify(e) });
          continue;
        }
        const timer = await new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(true), KEEPALIVE_MS);
          wake = () => {
            clearTimeout(t);
            resolve(false);
          };
        });
        wake = undefined;
        if (timer && !closed) await stream.write(": keepalive\n\n");
      }
    } finally {
      unsubscribe();
      untrack();
    }
  });
}

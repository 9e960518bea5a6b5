/**
 * The orchestrator's in-process state events: one typed emitter (`StateEvents`) that says what
 * changed, after the change is committed to the database. Episode, chunk and machine state changes
 * are emitted by the one write path that checks their lifecycles (events/state-transitions.ts and
 * `Database.commit`); deliveries and feed polls emit what each attempt or poll recorded.
 *
 * Who listens: the delivery service (wakes on a finished episode instead of waiting for its scan),
 * the progressive transcript routes (a chunk done means the stitched prefix may have grown), the
 * dashboard's live updates, and tests (test/support/state-events.ts awaits an event instead of
 * polling). Listeners run synchronously right after the commit, in commit order; they must not
 * block: start async work and return. A listener that throws (or whose promise rejects) is
 * reported to the error handler and never reaches the writer, whose change is already committed.
 *
 * Every payload carries its own `type`, so `onAny` listeners (an SSE bridge) can forward events as they are.
 */
import type { ChunkState, EpisodeState } from "../episodes/lifecycle.ts";

/** An episode moved from `from` to `to`; `from` is null when the episode was just created. */
export interface EpisodeTransitionEvent {
  type: "episode:transition";
  episodeId: string;
  from: EpisodeState | null;
  to: EpisodeState;
  /** Commit time, ms since the epoch (the row's `updatedAt`). */
  at: number;
  /** The episode's error after the change (why it failed or was cancelled), else null. */
  error: string | null;
}

/** A chunk moved from `from` to `to`; `from` is null when the chunk plan created it. */
export interface ChunkTransitionEvent {
  type: "chunk:transition";
  chunkId: string;
  episodeId: string;
  /** Position in the episode's chunk plan, 0-based. */
  index: number;
  from: ChunkState | null;
  to: ChunkState;
  at: number;
  /** Attempt ordering after the change (see contract/wire.ts compareAttempts). */
  generation: number;
  attempt: number;
  /** The lease holder after the change; for a chunk that left "leased", the machine that held it. */
  machineId: string | null;
  /** The chunk's last error after the change (why an attempt failed or was re-queued), else null. */
  error: string | null;
}

/** A worker machine the orchestrator tracks changed state (Fly state names); `from` is null at creation. */
export interface MachineTransitionEvent {
  type: "machine:transition";
  machineId: string;
  from: string | null;
  to: string;
  at: number;
  /** create: we made it; state: an observation saw it change; destroy: we destroyed it; gone: no longer listed. */
  kind: "create" | "state" | "destroy" | "gone";
  reason: string | null;
}

/** One completion-callback attempt was recorded (delivery/delivery-service.ts). */
export interface DeliveryAttemptEvent {
  type: "delivery:attempt";
  deliveryId: string;
  episodeId: string;
  /** The callback's event name, e.g. "episode.transcribed". */
  event: string;
  attempt: number;
  at: number;
  ok: boolean;
  httpStatus: number | null;
  error: string | null;
  /** The delivery's state after this attempt. */
  state: "pending" | "delivered" | "failed";
  /** When the next attempt is due (pending only), ms since the epoch. */
  nextAttemptAt: number | null;
}

/** A feed poll was recorded (feeds/feed-service.ts). */
export interface FeedPollEvent {
  type: "feed:poll";
  feedId: string;
  at: number;
  outcome: "ok" | "not_modified" | "error";
  /** Items discovered by this poll (new or backfill). */
  newItems: number;
  error: string | null;
  nextPollAt: number | null;
}

/** Every state event by name: the emitter's documented map. */
export interface StateEventMap {
  "episode:transition": EpisodeTransitionEvent;
  "chunk:transition": ChunkTransitionEvent;
  "machine:transition": MachineTransitionEvent;
  "delivery:attempt": DeliveryAttemptEvent;
  "feed:poll": FeedPollEvent;
}

export type StateEventType = keyof StateEventMap;
export type StateEvent = StateEventMap[StateEventType];
export type StateListener<K extends StateEventType> = (event: StateEventMap[K]) => unknown;
export type AnyStateListener = (event: StateEvent) => unknown;
export type ListenerErrorHandler = (error: unknown, event: StateEvent) => void;

/** Every event name, for validation (e.g. a `?types=` filter on an event stream). */
export const STATE_EVENT_TYPES: readonly StateEventType[] = [
  "episode:transition",
  "chunk:transition",
  "machine:transition",
  "delivery:attempt",
  "feed:poll",
];

export class StateEvents {
  readonly #listeners = new Map<StateEventType, Set<(event: StateEvent) => unknown>>();
  readonly #any = new Set<AnyStateListener>();
  #onError: ListenerErrorHandler = (error, event) => console.error(`state event listener for ${event.type} failed:`, error);

  /** Calls `listener` for every `type` event; returns what unsubscribes it. */
  on<K extends StateEventType>(type: K, listener: StateListener<K>): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    const wrapped = listener as (event: StateEvent) => unknown;
    set.add(wrapped);
    return () => void set.delete(wrapped);
  }

  /** Calls `listener` for every event of every type, after the typed listeners; returns what unsubscribes it. */
  onAny(listener: AnyStateListener): () => void {
    this.#any.add(listener);
    return () => void this.#any.delete(listener);
  }

  /** Where listener failures go (the orchestrator logs them); default: stderr. */
  setErrorHandler(handler: ListenerErrorHandler): void {
    this.#onError = handler;
  }

  listenerCount(type?: StateEventType): number {
    return type === undefined ? [...this.#listeners.values()].reduce((n, s) => n + s.size, this.#any.size) : (this.#listeners.get(type)?.size ?? 0);
  }

  /**
   * Delivers one event to its listeners, synchronously. Only the write path calls this, after the
   * change committed (Database.commit); a listener's failure never propagates to the caller.
   */
  emit(event: StateEvent): void {
    for (const listener of [...(this.#listeners.get(event.type) ?? []), ...this.#any]) {
      try {
        const result = listener(event);
        if (result instanceof Promise) result.catch((err: unknown) => this.#report(err, event));
      } catch (err) {
        this.#report(err, event);
      }
    }
  }

  #report(error: unknown, event: StateEvent): void {
    try {
      this.#onError(error, event);
    } catch {
      // the handler itself failed: nothing sensible is left to do, and the writer must not see it
    }
  }
}

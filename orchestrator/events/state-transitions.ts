/**
 * The one place a state change becomes an event: each function checks the move against its
 * lifecycle table (episodes/lifecycle.ts for episodes and chunks, the machine rule below) and
 * returns the event to emit, or throws IllegalTransitionError. Store methods call these inside
 * `Database.commit` and hand the result to its `emit`, so a change that is refused, or whose
 * write fails, emits nothing, and one that commits is always announced.
 */
import { assertChunkTransition, assertEpisodeTransition, IllegalTransitionError, type ChunkState, type EpisodeState } from "../episodes/lifecycle.ts";
import type { ChunkTransitionEvent, EpisodeTransitionEvent, MachineTransitionEvent } from "./state-events.ts";

/** An episode as the store reads it: its id and current status. */
interface EpisodeRef {
  id: string;
  status: string;
}

/** A chunk as the store reads it before the change. */
interface ChunkRef {
  id: string;
  episodeId: string;
  index: number;
  state: string;
  generation: number;
  attempt: number;
  leaseOwner: string | null;
  lastError: string | null;
}

/** A new episode (no previous state); every episode starts "received". */
export function episodeCreated(id: string, at: number): EpisodeTransitionEvent {
  return { type: "episode:transition", episodeId: id, from: null, to: "received", at, error: null };
}

/** Checks `current.status → to` and returns its event. `error` is the episode's error after the change. */
export function episodeTransition(current: EpisodeRef, to: EpisodeState, at: number, error: string | null = null): EpisodeTransitionEvent {
  const from = current.status as EpisodeState;
  assertEpisodeTransition(current.id, from, to);
  return { type: "episode:transition", episodeId: current.id, from, to, at, error };
}

/** A chunk the plan just created, queued at attempt 0 at its plan's generation (1, unless an earlier plan was dropped). */
export function chunkPlanned(chunk: { id: string; episodeId: string; index: number; generation: number }, at: number): ChunkTransitionEvent {
  return {
    type: "chunk:transition",
    chunkId: chunk.id,
    episodeId: chunk.episodeId,
    index: chunk.index,
    from: null,
    to: "queued",
    at,
    generation: chunk.generation,
    attempt: 0,
    machineId: null,
    error: null,
  };
}

/**
 * Checks `current.state → to` and returns its event. `after` holds what the same write changes
 * besides the state (generation, attempt, lease owner, error); fields left out keep their value.
 * When the chunk leaves a lease, `machineId` names the machine that held it.
 */
export function chunkTransition(
  current: ChunkRef,
  to: ChunkState,
  at: number,
  after: { generation?: number; attempt?: number; leaseOwner?: string | null; lastError?: string | null } = {},
): ChunkTransitionEvent {
  const from = current.state as ChunkState;
  assertChunkTransition(current.id, from, to);
  const owner = after.leaseOwner === undefined ? current.leaseOwner : after.leaseOwner;
  return {
    type: "chunk:transition",
    chunkId: current.id,
    episodeId: current.episodeId,
    index: current.index,
    from,
    to,
    at,
    generation: after.generation ?? current.generation,
    attempt: after.attempt ?? current.attempt,
    machineId: owner ?? current.leaseOwner,
    error: after.lastError === undefined ? current.lastError : after.lastError,
  };
}

/**
 * Machines follow Fly's states, observed rather than driven, so almost any move can be seen
 * (a listing may skip the states in between). The one rule: a destroyed machine never comes back.
 */
export function assertMachineTransition(id: string, from: string | null, to: string): void {
  if (from === "destroyed" && to !== "destroyed") {
    throw new IllegalTransitionError(`machine ${id}: destroyed → ${to} is not allowed`);
  }
}

/** Checks `from → to` for a machine and returns its event. */
export function machineTransition(
  machineId: string,
  from: string | null,
  to: string,
  at: number,
  kind: MachineTransitionEvent["kind"],
  reason: string | null = null,
): MachineTransitionEvent {
  assertMachineTransition(machineId, from, to);
  return { type: "machine:transition", machineId, from, to, at, kind, reason };
}

/**
 * The worker's error classes. The worker maps them onto NATS verbs: a permanent error is recorded
 * (ChunkFailed, permanent) and the job is `term()`ed; a transient one is recorded best effort and
 * the job is `nak()`ed with a delay so it is retried, here or on another machine.
 */

/** Codes of permanent failures, as they appear in ChunkFailed.code. */
export type PermanentChunkErrorCode = "bad_audio" | "engine_error";

/** Retrying this chunk cannot help: the audio is unusable or the engine rejects it. */
export class PermanentChunkError extends Error {
  override readonly name = "PermanentChunkError";
  constructor(
    readonly code: PermanentChunkErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** This attempt failed for a reason that may go away (timeout, overload, lost connection). */
export class TransientChunkError extends Error {
  override readonly name = "TransientChunkError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * The engine cannot run on this machine at all (binary or model missing). The chunk is fine: the
 * worker gives it back and exits non-zero, so a broken machine does not burn through the queue.
 */
export class EngineUnavailableError extends Error {
  override readonly name = "EngineUnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

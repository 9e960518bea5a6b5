/**
 * Retrying a NATS operation through an outage of the server: a nats-server restarted by its
 * supervisor, a cluster node lost, a JetStream that is not ready yet after a restart. Such an
 * outage is the outside world failing for a while, not the episode being bad, so work that is in
 * the middle of something (a streaming ingest publishing its chunks as they are cut) waits it out
 * instead of failing the episode, and a worker holding a chunk (its stream's leader node lost, a
 * new one being elected) records its claim and result a moment late instead of failing the attempt.
 *
 * Only what is safe to repeat may be retried: a publish with a message id is (JetStream drops the
 * copy when the first attempt did land but its ack was lost). Used by the orchestrator and the
 * worker alike, so it lives with the wire contract.
 */
import { JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import { errors } from "@nats-io/transport-node";
import pRetry from "p-retry";

/** How long an operation keeps trying through an outage before its error is final. */
export const NATS_OUTAGE_WINDOW_MS = 120_000;

/**
 * Whether `err` says NATS is unreachable or not ready right now (and may be again soon): a request
 * that timed out, a connection lost or re-connecting, nobody answering the JetStream API (the
 * client's "JetStream not enabled" wraps that no-responders error as its cause), or the API
 * answering 503 (a cluster electing its leaders). A closed connection is final (we closed it), and
 * so are permission and API errors (a bad request stays bad).
 */
export function isTransientNatsError(err: unknown): boolean {
  if (err instanceof errors.RequestError) return err.isNoResponders() || isTransientNatsError(err.cause);
  if (err instanceof errors.TimeoutError || err instanceof errors.NoRespondersError || err instanceof errors.ConnectionError) return true;
  if (err instanceof JetStreamApiError) return err.status === 503;
  if (err instanceof JetStreamError) return isTransientNatsError(err.cause);
  // The client's "JetStream not enabled" is a plain Error (not a JetStreamError, and not exported):
  // it wraps either nobody answering (a stream's leader lost, its successor not elected yet) or the
  // server's own answer, so its cause decides.
  if (err instanceof Error && err.name === "JetStreamNotEnabled") return isTransientNatsError(err.cause);
  return false;
}

export interface NatsRetryOptions {
  /** Give up (rethrowing the last error) this long after the first failure; default NATS_OUTAGE_WINDOW_MS. */
  windowMs?: number;
  signal?: AbortSignal;
  /** Told about each failed attempt that will be retried (for a log line). */
  onRetry?: (error: unknown, attempt: number) => void;
}

/** Runs `op`, again after transient NATS failures (backing off 0.25 → 5 s) for up to the window. */
export async function retryThroughNatsOutage<T>(op: () => Promise<T>, options: NatsRetryOptions = {}): Promise<T> {
  return pRetry(op, {
    retries: Number.POSITIVE_INFINITY,
    maxRetryTime: options.windowMs ?? NATS_OUTAGE_WINDOW_MS,
    minTimeout: 250,
    maxTimeout: 5000,
    factor: 2,
    ...(options.signal ? { signal: options.signal } : {}),
    shouldRetry: ({ error }) => isTransientNatsError(error),
    onFailedAttempt: ({ error, attemptNumber }) => {
      if (isTransientNatsError(error)) options.onRetry?.(error, attemptNumber);
    },
  });
}

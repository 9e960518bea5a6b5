/**
 * Writes a chunk's result into the results Object Store bucket with publish permission alone.
 *
 * The worker account may not read the results bucket (other episodes' results) or purge it
 * (contract/wire.ts workerPermissions), but the @nats-io/obj client's put() first reads the name's
 * current metadata and afterwards purges the chunks it replaced. A result name is new on every
 * attempt (resultObjectName carries a random part), so there is nothing to read or replace: the
 * shared writer (contract/object-writer.ts) publishes the data and then the metadata, expecting no
 * metadata before it, in the Object Store layout that the orchestrator reads back as usual.
 */
import { ObjectWriter, type ObjectPublisher } from "../../contract/object-writer.ts";

/** The slice of the JetStream client this needs (publish with a stream ack). */
export type ResultPublisher = ObjectPublisher;

/** Where a worker puts results; the real one is ResultWriter. */
export interface ResultSink {
  /** Durable once it resolves; `signal` gives up (the attempt was cancelled or handed back). */
  put(name: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void>;
}

/** How long one piece's publish is retried through a NATS outage. */
const OUTAGE_WINDOW_MS = 60_000;

export class ResultWriter implements ResultSink {
  readonly #writer: ObjectWriter;

  constructor(
    js: ResultPublisher,
    bucket: string,
    /** The server's max_payload; chunks are at most this (and 128 KiB). */
    maxPayload?: number,
  ) {
    this.#writer = new ObjectWriter(js, bucket, maxPayload);
  }

  async put(name: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    await this.#writer.put(name, bytes, { mode: "new", outageWindowMs: OUTAGE_WINDOW_MS, ...(signal ? { signal } : {}) });
  }
}

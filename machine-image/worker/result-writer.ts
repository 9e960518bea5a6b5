/**
 * Writes a chunk's result into the results Object Store bucket with publish permission alone.
 *
 * The worker account may not read the results bucket (other episodes' results) or purge it
 * (contract/wire.ts workerPermissions), but the @nats-io/obj client's put() first reads the name's
 * current metadata and afterwards purges the chunks it replaced. A result name is new on every
 * attempt (resultObjectName carries a random part), so there is nothing to read or replace: this
 * publishes the data to `$O.<bucket>.C.<nuid>` and then the metadata to
 * `$O.<bucket>.M.<base64url(name)>`, the Object Store layout (NATS ADR-20) that the orchestrator's
 * client reads back as usual. Every publish waits for the stream's ack, so the object is durable
 * once put() resolves. Each publish carries a message id and is retried through a NATS outage, so
 * a piece whose ack was lost is not stored twice.
 */
import { randomBytes } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { retryThroughNatsOutage } from "../../contract/nats-retry.ts";
import { objectDigest, objectMetaSubject } from "../../contract/wire.ts";

/** The slice of the JetStream client this needs (publish with a stream ack). */
export type ResultPublisher = Pick<JetStreamClient, "publish">;

/** Where a worker puts results; the real one is ResultWriter. */
export interface ResultSink {
  /** Durable once it resolves; `signal` gives up (the attempt was cancelled or handed back). */
  put(name: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void>;
}

const MAX_CHUNK = 128 * 1024;

/** How long one piece's publish is retried through a NATS outage. */
const OUTAGE_WINDOW_MS = 60_000;

export class ResultWriter implements ResultSink {
  readonly #chunkSize: number;

  constructor(
    private readonly js: ResultPublisher,
    private readonly bucket: string,
    /** The server's max_payload; chunks are at most this (and 128 KiB). */
    maxPayload = MAX_CHUNK,
  ) {
    this.#chunkSize = Math.min(MAX_CHUNK, maxPayload);
  }

  async put(name: string, bytes: Uint8Array, signal?: AbortSignal): Promise<void> {
    // a nuid-like token: 22 characters of [A-Za-z0-9], valid as one subject token
    const nuid = randomBytes(16)
      .toString("base64")
      .replace(/[^A-Za-z0-9]/g, "")
      .slice(0, 22)
      .padEnd(22, "0");
    const retrying = (op: () => Promise<unknown>) => retryThroughNatsOutage(op, { windowMs: OUTAGE_WINDOW_MS, ...(signal ? { signal } : {}) });
    let chunks = 0;
    for (let at = 0; at < bytes.length; at += this.#chunkSize) {
      const piece = bytes.subarray(at, at + this.#chunkSize);
      const msgID = `${nuid}.${chunks}`;
      await retrying(() => this.js.publish(`$O.${this.bucket}.C.${nuid}`, piece, { msgID }));
      chunks += 1;
    }
    const info = {
      name,
      description: "",
      options: { max_chunk_size: this.#chunkSize },
      bucket: this.bucket,
      nuid,
      size: bytes.length,
      chunks,
      mtime: new Date().toISOString(),
      digest: objectDigest(bytes),
      deleted: false,
    };
    // expect no earlier metadata under this name: a result is written once and never replaced
    const meta = JSON.stringify(info);
    await retrying(() => this.js.publish(objectMetaSubject(this.bucket, name), meta, { msgID: `${nuid}.meta`, expect: { lastSubjectSequence: 0 } }));
  }
}

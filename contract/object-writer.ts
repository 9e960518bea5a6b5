/**
 * Writes an object into an Object Store bucket by publishing its pieces: the data to
 * `$O.<bucket>.C.<nuid>` in chunks of at most 128 KiB (and the server's max_payload), then the
 * metadata to `$O.<bucket>.M.<base64url(name)>`, the layout (NATS ADR-20) that the @nats-io/obj
 * client's get and contract/object-reader.ts read back. The digest is Node's native SHA-256
 * (`objectDigest`): the client's own put hashes in JavaScript, which was most of the cost of storing
 * a transcript. Both sides use this writer: a worker's result (publish permission alone, a name that
 * is new on every attempt) and the orchestrator's transcript files (replacing an earlier stitch's).
 *
 * Every publish waits for the stream's ack, so the object is durable once put() resolves. Each
 * publish carries a message id and is retried through a NATS outage (contract/nats-retry.ts), so a
 * piece whose ack was lost is not stored twice, and an outage costs the piece it cut, not the object.
 * The bytes may come as a stream (an upload file of up to gigabytes): they are cut into pieces as
 * they are read, hashed as they go, and never held whole.
 */
import { createHash, randomBytes } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { headers } from "@nats-io/transport-node";
import { retryThroughNatsOutage } from "./nats-retry.ts";
import { objectDigestOf, objectMetaSubject } from "./wire.ts";

/** The slice of the JetStream client this needs (publish with a stream ack). */
export type ObjectPublisher = Pick<JetStreamClient, "publish">;

export interface ObjectPutOptions {
  /**
   * "new": the name has no object yet and must not get a second one (a worker's result: the
   * metadata is published expecting none before it). "replace": the metadata rolls up any earlier
   * metadata of the name (`Nats-Rollup: sub`, as the client's put does); the caller purges the
   * chunks of the object it replaced, whose nuid it read before.
   */
  readonly mode: "new" | "replace";
  /** How long each publish is retried through a NATS outage (default contract/nats-retry.ts's window). */
  readonly outageWindowMs?: number;
  /** Gives up (the put rejects) when aborted. */
  readonly signal?: AbortSignal;
}

/** What put() stored, as the metadata says it. */
export interface ObjectWritten {
  readonly nuid: string;
  readonly size: number;
  readonly chunks: number;
  readonly digest: string;
}

const MAX_CHUNK = 128 * 1024;

export class ObjectWriter {
  readonly #chunkSize: number;

  constructor(
    private readonly js: ObjectPublisher,
    private readonly bucket: string,
    /** The server's max_payload; chunks are at most this (and 128 KiB). */
    maxPayload = MAX_CHUNK,
  ) {
    this.#chunkSize = Math.min(MAX_CHUNK, maxPayload);
  }

  /** Stores `source` (the bytes, or a stream of them) under `name`. */
  async put(name: string, source: Uint8Array | AsyncIterable<Uint8Array>, options: ObjectPutOptions): Promise<ObjectWritten> {
    const nuid = newNuid();
    const retrying = (op: () => Promise<unknown>) =>
      retryThroughNatsOutage(op, {
        ...(options.outageWindowMs === undefined ? {} : { windowMs: options.outageWindowMs }),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    const hash = createHash("sha256");
    let size = 0;
    let chunks = 0;
    for await (const piece of pieces(source, this.#chunkSize)) {
      hash.update(piece);
      size += piece.length;
      const msgID = `${nuid}.${chunks}`;
      await retrying(() => this.js.publish(`$O.${this.bucket}.C.${nuid}`, piece, { msgID }));
      chunks += 1;
    }
    const digest = objectDigestOf(hash);
    const info = {
      name,
      description: "",
      options: { max_chunk_size: this.#chunkSize },
      bucket: this.bucket,
      nuid,
      size,
      chunks,
      mtime: new Date().toISOString(),
      digest,
      deleted: false,
    };
    const meta = JSON.stringify(info);
    const subject = objectMetaSubject(this.bucket, name);
    if (options.mode === "new") {
      await retrying(() => this.js.publish(subject, meta, { msgID: `${nuid}.meta`, expect: { lastSubjectSequence: 0 } }));
    } else {
      const rollup = headers();
      rollup.set("Nats-Rollup", "sub");
      await retrying(() => this.js.publish(subject, meta, { msgID: `${nuid}.meta`, headers: rollup }));
    }
    return { nuid, size, chunks, digest };
  }
}

/** `source` cut into pieces of exactly `size` bytes (the last one shorter), in order. */
async function* pieces(source: Uint8Array | AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  if (source instanceof Uint8Array) {
    for (let at = 0; at < source.length; at += size) yield source.subarray(at, at + size);
    return;
  }
  let held: Uint8Array[] = [];
  let heldBytes = 0;
  for await (const data of source) {
    let rest = data;
    while (heldBytes + rest.length >= size) {
      const take = size - heldBytes;
      held.push(rest.subarray(0, take));
      yield held.length === 1 ? held[0]! : Buffer.concat(held, size);
      held = [];
      heldBytes = 0;
      rest = rest.subarray(take);
    }
    if (rest.length > 0) {
      held.push(rest);
      heldBytes += rest.length;
    }
  }
  if (heldBytes > 0) yield held.length === 1 ? held[0]! : Buffer.concat(held, heldBytes);
}

/** A nuid-like token: 22 characters of [A-Za-z0-9], valid as one subject token. */
function newNuid(): string {
  return randomBytes(16)
    .toString("base64")
    .replace(/[^A-Za-z0-9]/g, "")
    .slice(0, 22)
    .padEnd(22, "0");
}

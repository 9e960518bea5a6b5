/**
 * Reads a small Object Store object (a transcript file, a chunk's result or audio) without a consumer.
 *
 * The client's `get` creates an ephemeral ordered consumer to stream the chunks. On a cluster that
 * has lost a node, about one in four such create requests gets no answer at all (BENCHMARKS.md,
 * "Object-store reads with a NATS node lost"), and retrying does not always help: in one probe a
 * read failed six times in a row. The stream's message-get API is answered by the stream's leader,
 * which is always a live node, and the Object Store layout (NATS ADR-20) makes an object readable
 * through it: the metadata is the last message on `$O.<bucket>.M.<name>` (what `info` reads), and
 * the data is the `chunks` messages on `$O.<bucket>.C.<nuid>`, read in order with `next_by_subj`
 * (nats-server 2.9 has it). One request per chunk (128 KiB): a transcript or a result is a few, a
 * chunk's audio (a worker's read of a job too big for max_payload) 9 for a default 30 s chunk with
 * its padding, 16 for a 60 s one; uploads, which can be hundreds of MB, keep the streaming `get`.
 * The size and SHA-256 digest are checked as `get` checks them. Used by the orchestrator and the
 * worker alike, so it lives with the wire contract.
 */
import type { JetStreamManager, MsgRequest } from "@nats-io/jetstream";
import type { ObjectStore } from "@nats-io/obj";
import { objectDigest } from "./wire.ts";

/** The object read back does not match its metadata (a chunk missing, or different bytes). */
export class ObjectIntegrityError extends Error {
  override readonly name = "ObjectIntegrityError";
}

export class ObjectReader {
  constructor(
    /** The bucket's store, for its metadata (`info` is itself a message get). */
    private readonly store: ObjectStore,
    private readonly jsm: JetStreamManager,
    private readonly bucket: string,
  ) {}

  /**
   * The object's bytes, or null when there is no such object (or it was deleted). Throws on a link,
   * and `signal`'s reason once it is aborted (checked between chunks).
   */
  async read(name: string, signal?: AbortSignal): Promise<Uint8Array | null> {
    const info = await this.store.info(name);
    if (info === null || info.deleted) return null;
    if (info.options?.link) throw new Error(`object ${name} in ${this.bucket} is a link, not data`);
    const parts: Uint8Array[] = [];
    let seq = 0;
    for (let i = 0; i < info.chunks; i++) {
      signal?.throwIfAborted();
      // the server's STREAM.MSG.GET takes next_by_subj (2.9 and later); the client's type lists it for direct gets only
      const next = { next_by_subj: `$O.${this.bucket}.C.${info.nuid}`, seq: seq + 1 } as unknown as MsgRequest;
      const msg = await this.jsm.streams.getMessage(`OBJ_${this.bucket}`, next);
      if (msg === null) throw new ObjectIntegrityError(`object ${name} in ${this.bucket}: chunk ${i + 1} of ${info.chunks} is missing`);
      parts.push(msg.data);
      seq = msg.seq;
    }
    const bytes = Buffer.concat(parts);
    if (bytes.length !== info.size)
      throw new ObjectIntegrityError(`object ${name} in ${this.bucket}: read ${bytes.length} bytes, its metadata says ${info.size}`);
    if (info.digest && info.digest !== objectDigest(bytes))
      throw new ObjectIntegrityError(`object ${name} in ${this.bucket}: its SHA-256 digest does not match`);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  }
}

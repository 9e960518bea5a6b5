/**
 * The leader lease: one key in a NATS KV bucket (WireNames.leaderBucket) whose bucket TTL (max_age)
 * is the lease TTL and whose history is 1. Whoever creates the key leads; the fencing term is the
 * KV revision of that create (a stream sequence: it only grows, whoever holds the key). The holder
 * renews with revision-checked updates, so a renewal from a holder that lost the key is refused;
 * a holder that stops renewing (killed, paused) loses the key when its last write ages out.
 *
 * The bucket is the KV layout of NATS ADR-8 (stream `KV_<bucket>`, subject `$KV.<bucket>.<key>`,
 * `KV-Operation` headers for deletes), written with plain JetStream publishes and their
 * expected-last-subject-sequence check: that is all a KV create/update is, and it keeps the code
 * inside nats-server 2.9 (no per-key TTL) without another client package. `nats kv get` reads it.
 */
import { DiscardPolicy, JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, StorageType, type StoredMsg } from "@nats-io/jetstream";
import type { JetStreamClient, JetStreamManager, StreamConfig } from "@nats-io/jetstream";
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import type { WireNames } from "../../contract/wire.ts";

/** The one key of the bucket. */
export const LEADER_KEY = "leader";

const OPERATION_HEADER = "KV-Operation";

/** The key as one orchestrator wrote it. */
export interface LeaseRecord {
  /** Instance id of the holder (cluster/instance-id.ts). */
  holder: string;
  /** The fencing term: the revision of the write that elected the holder. */
  term: number;
  /** When the holder was elected (epoch ms, the holder's wall clock: for people). */
  since: number;
  /** Revision of the key's latest write: what the next renewal must expect. */
  revision: number;
}

/** The outcome of an acquisition attempt. */
export type Acquired = { won: LeaseRecord } | { heldBy: LeaseRecord };

/** A renewal or release expected a revision the key no longer has: another holder, or the key aged out. */
export class LeaseRefusedError extends Error {
  override readonly name = "LeaseRefusedError";
}

/** The stored value: `term` is absent on the write that elects (its own revision is the term). */
const LeaseValue = z.object({
  v: z.literal(1),
  holder: z.string().min(1),
  since: z.number().int().nonnegative(),
  term: z.number().int().positive().optional(),
});
type LeaseValue = z.infer<typeof LeaseValue>;

const ns = (ms: number): number => Math.round(ms * 1_000_000);

export interface LeaderLeaseOptions {
  /** Lease TTL: the bucket's max_age. */
  ttlMs: number;
  /** Stream replicas (min(3, cluster size) on a cluster); default 1. */
  replicas?: number;
  /** How long one request may take; default a third of the TTL, at most 5 s. */
  requestTimeoutMs?: number;
}

export class LeaderLease {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #stream: string;
  readonly #subject: string;
  readonly #timeout: number;
  #bucketTtlMs: number;

  private constructor(
    readonly nc: NatsConnection,
    names: WireNames,
    jsm: JetStreamManager,
    ttlMs: number,
    timeoutMs: number,
  ) {
    this.#jsm = jsm;
    this.#js = jetstream(nc);
    this.#stream = `KV_${names.leaderBucket}`;
    this.#subject = `$KV.${names.leaderBucket}.${LEADER_KEY}`;
    this.#timeout = timeoutMs;
    this.#bucketTtlMs = ttlMs;
  }

  /**
   * Creates the bucket, or sets an existing one's TTL to `ttlMs` (all orchestrators of one
   * deployment must use the same PODFLEET_LEADER_LEASE_SEC; `ttlMs` reports the bucket's actual one).
   */
  static async open(nc: NatsConnection, names: WireNames, opts: LeaderLeaseOptions): Promise<LeaderLease> {
    const jsm = await jetstreamManager(nc);
    const lease = new LeaderLease(nc, names, jsm, opts.ttlMs, opts.requestTimeoutMs ?? Math.min(5000, Math.max(250, Math.floor(opts.ttlMs / 3))));
    await lease.#ensureBucket(opts.ttlMs, opts.replicas ?? 1);
    return lease;
  }

  /** The bucket's TTL as last read (the lease TTL in force). */
  get ttlMs(): number {
    return this.#bucketTtlMs;
  }

  async #ensureBucket(ttlMs: number, replicas: number): Promise<void> {
    const want: Partial<StreamConfig> & { name: string; subjects: string[] } = {
      name: this.#stream,
      subjects: [`${this.#subject.slice(0, this.#subject.lastIndexOf("."))}.>`],
      max_msgs_per_subject: 1,
      max_age: ns(ttlMs),
      duplicate_window: ns(Math.min(ttlMs, 120_000)),
      discard: DiscardPolicy.New,
      allow_rollup_hdrs: true,
      deny_delete: true,
      allow_direct: true,
      storage: StorageType.File,
      num_replicas: replicas,
    };
    let current: StreamConfig;
    try {
      current = (await this.#jsm.streams.info(this.#stream)).config;
    } catch (err) {
      if (!(err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound)) throw err;
      await this.#jsm.streams.add(want);
      return;
    }
    if (current.max_age !== want.max_age) {
      await this.#jsm.streams.update(this.#stream, { max_age: want.max_age, duplicate_window: want.duplicate_window });
    }
  }

  /** Re-reads the bucket's TTL (another orchestrator may have set another). */
  async refreshTtl(): Promise<number> {
    const info = await this.#jsm.streams.info(this.#stream);
    this.#bucketTtlMs = Math.round(info.config.max_age / 1_000_000);
    return this.#bucketTtlMs;
  }

  /**
   * One attempt to lead: create the key (free, aged out, or released), or take back a key that
   * still names `holder` (a write of ours whose answer was lost). Otherwise says who holds it.
   * `takeOver`: replace any holder (only where no other orchestrator can share this NATS).
   */
  async acquire(holder: string, since: number, opts: { takeOver?: boolean } = {}): Promise<Acquired> {
    for (let tries = 0; tries < 3; tries++) {
      const revision = await this.#write({ v: 1, holder, since }, 0);
      if (revision !== null) return { won: { holder, term: revision, since, revision } };
      const current = await this.#readRaw();
      if (current === null) continue; // aged out between the two requests
      if (current.deleted) {
        const rev = await this.#write({ v: 1, holder, since }, current.seq);
        if (rev !== null) return { won: { holder, term: rev, since, revision: rev } };
        continue;
      }
      const record = current.record;
      if (record.holder === holder) {
        const rev = await this.#write({ v: 1, holder, since: record.since, term: record.term }, record.revision);
        if (rev !== null) return { won: { ...record, revision: rev } };
        continue;
      }
      if (opts.takeOver) {
        const rev = await this.#write({ v: 1, holder, since }, record.revision);
        if (rev !== null) return { won: { holder, term: rev, since, revision: rev } };
        continue;
      }
      return { heldBy: record };
    }
    const now = await this.read();
    if (now) return { heldBy: now };
    throw new LeaseRefusedError("the leader key changed under every attempt to take it");
  }

  /** Renews the lease; throws LeaseRefusedError when the key is no longer at `lease.revision`. */
  async renew(lease: LeaseRecord): Promise<LeaseRecord> {
    const revision = await this.#write({ v: 1, holder: lease.holder, since: lease.since, term: lease.term }, lease.revision);
    if (revision === null) throw new LeaseRefusedError(`the leader key moved past revision ${lease.revision}`);
    return { ...lease, revision };
  }

  /** Deletes the key if it is still at `lease.revision`, so a successor is elected at once; false when it was not. */
  async release(lease: LeaseRecord): Promise<boolean> {
    const h = headers();
    h.set(OPERATION_HEADER, "DEL");
    try {
      await this.#js.publish(this.#subject, new Uint8Array(0), {
        headers: h,
        expect: { lastSubjectSequence: lease.revision },
        timeout: this.#timeout,
      });
      return true;
    } catch (err) {
      if (isWrongSequence(err)) return false;
      throw err;
    }
  }

  /**
   * Moves the key's revisions past `term` when the bucket's own sequence is below it: the bucket
   * was recreated (deleted by hand, its NATS store lost) while the database kept the highest term
   * any leader was elected at, so every election would be fenced off for good. Safe: the key's
   * current holder, if any, holds it at a revision below `term`, which the database refuses anyway.
   * A purge up to `term + 1` empties the stream and makes `term + 1` its next sequence (nats-server
   * 2.9 has no first_seq setting; checked on 2.9.10). False when the bucket has reached `term`: a
   * leader elected at it, or after, is real.
   */
  async skipPast(term: number): Promise<boolean> {
    const info = await this.#jsm.streams.info(this.#stream);
    if (info.state.last_seq >= term) return false;
    await this.#jsm.streams.purge(this.#stream, { seq: term + 1 });
    return true;
  }

  /** Who leads, as the key says (any orchestrator can ask); null when nobody does. */
  async read(): Promise<LeaseRecord | null> {
    const raw = await this.#readRaw();
    return raw === null || raw.deleted ? null : raw.record;
  }

  /**
   * Calls `onRelease` whenever a delete of the key is published (a clean step-down), so a follower
   * tries at once instead of at its next retry. A core subscription: cheap, and only a hint (the
   * attempt it triggers is revision-checked like any other). Returns what unsubscribes.
   */
  watchReleases(onRelease: () => void): () => void {
    const sub = this.nc.subscribe(this.#subject, {
      callback: (err, msg) => {
        if (err) return;
        const op = msg.headers?.get(OPERATION_HEADER);
        if (op === "DEL" || op === "PURGE") onRelease();
      },
    });
    return () => sub.unsubscribe();
  }

  /** Publishes `value` expecting the key's last revision to be `expected` (0: no message); null when refused. */
  async #write(value: LeaseValue, expected: number): Promise<number | null> {
    try {
      const ack = await this.#js.publish(this.#subject, JSON.stringify(value), { expect: { lastSubjectSequence: expected }, timeout: this.#timeout });
      return ack.seq;
    } catch (err) {
      if (isWrongSequence(err)) return null;
      throw err;
    }
  }

  async #readRaw(): Promise<{ deleted: true; seq: number } | { deleted: false; record: LeaseRecord } | null> {
    const msg: StoredMsg | null = await this.#jsm.streams.getMessage(this.#stream, { last_by_subj: this.#subject });
    if (msg === null) return null;
    const op = msg.header?.get(OPERATION_HEADER);
    if (op === "DEL" || op === "PURGE") return { deleted: true, seq: msg.seq };
    let body: unknown;
    try {
      body = msg.json();
    } catch {
      body = undefined;
    }
    const parsed = LeaseValue.safeParse(body);
    // something else wrote the key: treat it like a delete marker, so the next create replaces it
    if (!parsed.success) return { deleted: true, seq: msg.seq };
    const v = parsed.data;
    return { deleted: false, record: { holder: v.holder, since: v.since, term: v.term ?? msg.seq, revision: msg.seq } };
  }
}

function isWrongSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;
}

/**
 * Leadership: the loop around the leader lease (leader-lease.ts) that decides whether this
 * orchestrator runs the singleton duties (autoscaler, sweeper, feed poller, callbacks).
 *
 * A follower tries to take the key every quarter TTL, and at once when a release is seen. A leader
 * renews every quarter TTL. Before each renewal, and before every side effect (Fence.check), the
 * leader asks its own monotonic clock how long ago its last successful renewal was *sent*: past
 * TTL − margin it may no longer hold the key (the server counts the TTL from when it stored that
 * write, which is later), so it steps down without another network call. A refused or failed
 * renewal steps down at once as well; duties are stopped (in-flight passes awaited) before the loop
 * goes on. Errors never escape the loop: NATS reconnects and lost nodes only mean "try again".
 */
import type { Logger } from "../log.ts";
import { NotLeaderError, type Fence } from "./fence.ts";
import { LeaseRefusedError, type Acquired, type LeaderLease, type LeaseRecord } from "./leader-lease.ts";

/** The lease calls leadership makes (LeaderLease satisfies it). */
export type LeasePort = Pick<LeaderLease, "acquire" | "renew" | "release" | "watchReleases">;

export interface LeadershipOptions {
  lease: LeasePort;
  /** This process's instance id (cluster/instance-id.ts). */
  holder: string;
  /** The lease TTL (the bucket's max_age). */
  ttlMs: number;
  /** Step down this long before the TTL runs out by the local clock; default a fifth of the TTL, at least 500 ms. */
  marginMs?: number;
  /** Renewal and follower retry period; default a quarter of the TTL. */
  everyMs?: number;
  /** Monotonic milliseconds (default performance.now): never the wall clock, which can jump. */
  clock?: () => number;
  /** Wall clock for `since` (default Date.now). */
  wallClock?: () => number;
  /**
   * Take the key over from any holder at the first attempt: only where no other orchestrator can
   * share this NATS (the embedded nats-server, behind the data-directory lock), so a restart after
   * a SIGKILL leads at once instead of waiting out the dead process's lease.
   */
  takeOverAtStart?: boolean;
  /** Elected: start the duties under `fence`. A throw steps down (and releases the key). */
  onElected?: (fence: Fence) => Promise<void>;
  /** Deposed or stopping: stop the duties, awaiting passes in flight. */
  onDeposed?: () => Promise<void>;
  log: Logger;
}

/** Renewal outcomes since start: the `podfleet_leader_lease_renewals_total` counter. */
export interface RenewalCounts {
  ok: number;
  refused: number;
  error: number;
}

interface Term {
  lease: LeaseRecord;
  /** Monotonic time the last successful write (election or renewal) was sent. */
  confirmedAt: number;
  /** Counts elections, so a fence of an earlier election under the same term is not valid. */
  election: number;
}

export class Leadership {
  readonly #o: LeadershipOptions;
  readonly #clock: () => number;
  readonly #marginMs: number;
  readonly #everyMs: number;
  #term: Term | null = null;
  #elections = 0;
  #loop: Promise<void> | undefined;
  #stopped = false;
  #wake: (() => void) | undefined;
  #unwatch: (() => void) | undefined;
  #attempts = 0;
  #lastError: string | undefined;
  readonly renewals: RenewalCounts = { ok: 0, refused: 0, error: 0 };

  constructor(options: LeadershipOptions) {
    this.#o = options;
    this.#clock = options.clock ?? (() => performance.now());
    this.#marginMs = options.marginMs ?? Math.max(500, Math.floor(options.ttlMs / 5));
    this.#everyMs = options.everyMs ?? Math.max(100, Math.floor(options.ttlMs / 4));
    if (this.#marginMs >= options.ttlMs) throw new RangeError("the lease margin must be shorter than its TTL");
  }

  get holder(): string {
    return this.#o.holder;
  }

  /** True while this process leads and its lease is valid by its own clock. */
  isLeader(): boolean {
    return this.#valid(this.#term?.election ?? -1);
  }

  /** The term this process leads under, or null. */
  get term(): number | null {
    return this.isLeader() ? this.#term!.lease.term : null;
  }

  /** When this process was elected (epoch ms), or null. */
  get since(): number | null {
    return this.isLeader() ? this.#term!.lease.since : null;
  }

  /** The fence of the current term; throws NotLeaderError when this process does not lead. */
  fence(): Fence {
    const t = this.#term;
    if (!t || !this.#valid(t.election)) throw new NotLeaderError(`${this.#o.holder} does not lead`);
    return this.#fenceOf(t);
  }

  /** Makes the first attempt (so a free key is taken before this returns), then runs the loop. */
  async start(): Promise<void> {
    if (this.#loop) return;
    this.#unwatch = this.#o.lease.watchReleases(() => {
      if (!this.#term) this.#wake?.();
    });
    await this.#step(true);
    this.#loop = this.#run();
  }

  /** Stops the loop; a leader stops its duties, then deletes the key so a successor is elected at once. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unwatch?.();
    this.#wake?.();
    await this.#loop;
    const t = this.#term;
    if (!t) return;
    await this.#stepDown("stopping");
    try {
      await this.#o.lease.release(t.lease);
    } catch (err) {
      this.#o.log.warn("could not release the leader lease; it ages out instead", { error: err });
    }
  }

  /**
   * What a SIGKILL leaves behind: the loop stops and the key stays until its TTL runs out. No
   * hook runs and nothing is released (tests simulate a dead leader with it).
   */
  async abandon(): Promise<void> {
    this.#stopped = true;
    this.#unwatch?.();
    this.#wake?.();
    await this.#loop;
    this.#term = null;
  }

  #valid(election: number): boolean {
    const t = this.#term;
    return t !== null && t.election === election && this.#clock() - t.confirmedAt < this.#o.ttlMs - this.#marginMs;
  }

  #fenceOf(t: Term): Fence {
    const check = (): void => {
      if (!this.#valid(t.election)) throw new NotLeaderError(`${this.#o.holder} no longer leads under term ${t.lease.term}`);
    };
    return { term: t.lease.term, check };
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#everyMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
      if (this.#stopped) return;
      await this.#step(false);
    }
  }

  /** One turn: a leader checks its clock and renews; a follower tries to take the key. Never throws. */
  async #step(first: boolean): Promise<void> {
    try {
      if (this.#term) await this.#renew(this.#term);
      else await this.#acquire(first);
    } catch (err) {
      this.#o.log.error("leadership step failed", { error: err });
    }
  }

  async #renew(t: Term): Promise<void> {
    if (!this.#valid(t.election)) {
      await this.#stepDown("no renewal for longer than the lease allows (the process was paused or starved)");
      return;
    }
    const sentAt = this.#clock();
    try {
      const lease = await this.#o.lease.renew(t.lease);
      this.renewals.ok++;
      if (this.#term === t) this.#term = { ...t, lease, confirmedAt: sentAt };
    } catch (err) {
      const refused = err instanceof LeaseRefusedError;
      if (refused) this.renewals.refused++;
      else this.renewals.error++;
      this.#o.log.warn("leader lease renewal failed; stepping down", { term: t.lease.term, refused, error: err });
      await this.#stepDown(refused ? "renewal refused" : "renewal failed");
    }
  }

  async #acquire(first: boolean): Promise<void> {
    const sentAt = this.#clock();
    let result: Acquired;
    try {
      result = await this.#o.lease.acquire(this.#o.holder, (this.#o.wallClock ?? Date.now)(), {
        takeOver: first && this.#o.takeOverAtStart === true,
      });
    } catch (err) {
      // logged once per kind of failure: a NATS outage must not fill the log every few seconds
      const key = err instanceof Error ? err.name : "error";
      if (key !== this.#lastError) this.#o.log.warn("cannot reach the leader lease; retrying", { error: err });
      this.#lastError = key;
      return;
    }
    this.#lastError = undefined;
    this.#attempts++;
    if ("heldBy" in result) {
      if (this.#attempts === 1) this.#o.log.info("another orchestrator leads", { leader: result.heldBy.holder, term: result.heldBy.term });
      return;
    }
    if (this.#stopped) {
      await this.#o.lease.release(result.won).catch(() => undefined);
      return;
    }
    const t: Term = { lease: result.won, confirmedAt: sentAt, election: ++this.#elections };
    this.#term = t;
    this.#o.log.info("elected leader", { holder: this.#o.holder, term: t.lease.term });
    try {
      await this.#o.onElected?.(this.#fenceOf(t));
    } catch (err) {
      this.#o.log.error("could not start the leader's duties; stepping down", { term: t.lease.term, error: err });
      await this.#stepDown("duties failed to start");
      await this.#o.lease.release(t.lease).catch(() => undefined);
    }
  }

  async #stepDown(reason: string): Promise<void> {
    const t = this.#term;
    if (!t) return;
    this.#term = null; // every fence of this term fails from here on
    if (reason === "stopping") this.#o.log.info("stepping down as leader", { term: t.lease.term, reason });
    else this.#o.log.warn("stepped down as leader", { term: t.lease.term, reason });
    try {
      await this.#o.onDeposed?.();
    } catch (err) {
      this.#o.log.error("stopping the leader's duties failed", { term: t.lease.term, error: err });
    }
  }
}

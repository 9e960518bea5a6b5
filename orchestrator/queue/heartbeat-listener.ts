/**
 * Receives the workers' heartbeats (contract/wire.ts WorkerHeartbeat, a plain NATS subject) and
 * records each against the chunk it names (store/chunk-heartbeats.ts). `since()` says from when
 * heartbeats have been received: a chunk is judged silent only after a whole heartbeat limit of
 * listening, so an orchestrator that just (re)started never mistakes its own deafness for a dead worker.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { WorkerHeartbeat, type WireNames } from "../../contract/wire.ts";
import type { Logger } from "../log.ts";
import type { ChunkHeartbeats } from "../store/chunk-heartbeats.ts";

export class HeartbeatListener {
  #sub: Subscription | undefined;
  #since: number | null = null;
  #done: Promise<void> | undefined;
  #closed = false;

  constructor(
    private readonly heartbeats: Pick<ChunkHeartbeats, "apply">,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Since when heartbeats are received (epoch ms), or null before start and after close. */
  since(): number | null {
    return this.#since;
  }

  /** Subscribes; heartbeats are applied one at a time, in arrival order. */
  start(nc: NatsConnection, names: WireNames): void {
    const sub = nc.subscribe(names.heartbeatSubject);
    this.#sub = sub;
    this.#since = this.now();
    // Heartbeats sent while the connection was down are lost: listening starts over on reconnect.
    void (async () => {
      for await (const status of nc.status()) {
        if (this.#closed) return;
        if (status.type === "disconnect") this.#since = null;
        else if (status.type === "reconnect") this.#since = this.now();
      }
    })().catch(() => undefined);
    this.#done = (async () => {
      for await (const msg of sub) {
        let hb: WorkerHeartbeat;
        try {
          hb = WorkerHeartbeat.parse(msg.json());
        } catch (err) {
          this.log.debug("malformed heartbeat dropped", { error: err });
          continue;
        }
        try {
          await this.heartbeats.apply(hb);
        } catch (err) {
          this.log.warn("recording a heartbeat failed", { chunkId: hb.chunkId, machineId: hb.machineId, error: err });
        }
      }
    })();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#since = null;
    this.#sub?.unsubscribe();
    await this.#done;
  }
}

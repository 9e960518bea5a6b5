/**
 * The leader part: this orchestrator's instance id, the leader lease in NATS KV, and the
 * leadership loop that runs the singleton duties (the fleet's autoscaler and sweeper, the feed
 * poller, callback delivery) only while this orchestrator leads. On election the database's
 * fencing row is raised to the new term before any duty starts; on deposition every duty is
 * stopped (passes in flight awaited). With the embedded nats-server the one orchestrator simply
 * leads from the start, through the same code.
 */
import type { WireNames } from "../../contract/wire.ts";
import { FencedError, type Fence } from "../cluster/fence.ts";
import { newInstanceId } from "../cluster/instance-id.ts";
import { LeaderLease, type LeaseRecord } from "../cluster/leader-lease.ts";
import { Leadership } from "../cluster/leadership.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { raiseLeaderTerm } from "../store/leader-term.ts";
import type { QueuePart } from "./queue-part.ts";
import type { StorePart } from "./store-part.ts";

/** A singleton duty: started under the new term's fence, returns what stops it. */
export type LeaderDuty = (fence: Fence) => () => Promise<void>;

/** What views and metrics read about leadership. */
export interface LeaderInfo {
  /** This orchestrator's instance id. */
  instance: string;
  leadership: Leadership;
  /** Who leads according to the lease key (any orchestrator can answer); null when nobody does. */
  current(): Promise<LeaseRecord | null>;
}

export interface LeaderPart extends LeaderInfo {
  /** Starts the loop with these duties; resolves once the first attempt is made (a free key is taken by then). */
  start(duties: LeaderDuty[]): Promise<void>;
  /** Steps down (duties stopped), releases the key. */
  close(): Promise<void>;
}

export async function openLeaderPart(
  config: Config,
  deps: { queue: QueuePart; names: WireNames; store: StorePart; log: Logger; instance?: string },
): Promise<LeaderPart> {
  const instance = deps.instance ?? newInstanceId();
  const log = deps.log.child({ component: "leader", instance });
  // replicated like every other stream (min(3, cluster size)): an R1 lease bucket dies with its one node, and no one could lead again
  const lease = await LeaderLease.open(deps.queue.nc, deps.names, { ttlMs: config.leaderLeaseSec * 1000, replicas: deps.queue.replicas.replicas });
  let duties: LeaderDuty[] = [];
  const stops: Array<() => Promise<void>> = [];
  const stopDuties = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop();
      } catch (err) {
        log.warn("stopping a leader duty failed", { error: err });
      }
    }
  };
  const leadership = new Leadership({
    lease,
    holder: instance,
    ttlMs: lease.ttlMs,
    // behind the data-directory lock nobody else can use the embedded nats-server
    takeOverAtStart: deps.queue.embedded,
    log,
    onElected: async (fence) => {
      try {
        await raiseLeaderTerm(deps.store.database, fence, instance, Date.now());
      } catch (err) {
        // elected below the stored term: a newer leader, or a lease bucket whose revisions started over
        if (err instanceof FencedError && err.storedTerm !== null && (await lease.skipPast(err.storedTerm))) {
          log.warn(
            "the leader lease's revisions restarted below the database's leader term (its bucket recreated); moved them past it, electing again",
            {
              term: fence.term,
              storedTerm: err.storedTerm,
            },
          );
        }
        throw err;
      }
      try {
        for (const duty of duties) stops.push(duty(fence));
      } catch (err) {
        await stopDuties();
        throw err;
      }
    },
    onDeposed: stopDuties,
  });
  return {
    instance,
    leadership,
    current: () => lease.read(),
    start: async (list) => {
      duties = list;
      await leadership.start();
    },
    close: () => leadership.stop(),
  };
}

/**
 * Test helper: a JetStream cluster of real nats-server processes on 127.0.0.1 (default three),
 * each with its own port, cluster (route) port, monitoring port and store directory. It resolves
 * once every node sees the same JetStream meta leader with all peers current (so an R3 stream
 * can be placed at once), and stops every node and removes the directories by itself when the
 * test ends. Nodes are not restarted when they die: a test that SIGKILLs one brings it back with
 * `restart()`, which waits until the node has rejoined.
 *
 * Readiness is read from each node's monitoring endpoint (`/jsz`, `meta_cluster`): a client
 * account cannot see the meta group on nats-server 2.9.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pickFreePort } from "../../orchestrator/free-port.ts";
import { startNatsServer, type NatsServerHandle, type NatsUser } from "../../orchestrator/queue/nats-server.ts";
import type { CleanupContext } from "./cleanup.ts";

export interface ClusterNode {
  /** `n1`, `n2`, ...: the server_name, as stream info names peers and leaders. */
  readonly name: string;
  /** `nats://127.0.0.1:PORT`: stable across restarts. */
  readonly url: string;
  readonly storeDir: string;
  /** Pid of the running process, or undefined while it is down. */
  readonly pid: number | undefined;
  /** Sends a signal (default SIGKILL). The node stays down (or stopped, for SIGSTOP) until `restart()` / SIGCONT. */
  kill(signal?: NodeJS.Signals): void;
  /** Starts the node again (same ports and store; stops it first if it runs) and waits until it is a current meta peer. */
  restart(): Promise<void>;
}

export interface TestNatsCluster {
  /** Every node's URL, in node order. */
  readonly urls: readonly string[];
  /** The same as one comma-separated list: what NATS_URL takes. */
  readonly url: string;
  readonly servers: readonly ClusterNode[];
  /** Waits until every running node sees a meta leader and all its running peers as current. */
  waitForJetStream(timeoutMs?: number): Promise<void>;
  /** Stops every node and removes the store directories (also done by itself when the test ends). */
  stop(): Promise<void>;
}

export interface NatsClusterOptions {
  /** Nodes; default 3. */
  readonly size?: number;
  readonly token?: string;
  readonly users?: readonly NatsUser[];
  /** Longest wait for the first meta leader; default 30 s. */
  readonly readyTimeoutMs?: number;
}

interface MetaCluster {
  leader?: string;
  replicas?: { name: string; current: boolean; offline?: boolean }[];
}

/** Starts the cluster; see the module doc. */
export async function startNatsCluster(t: CleanupContext, opts: NatsClusterOptions = {}): Promise<TestNatsCluster> {
  const size = opts.size ?? 3;
  if (size < 1) throw new TypeError("a cluster needs at least one node");
  const root = await mkdtemp(join(tmpdir(), "podfleet-nats-cluster-"));
  const handles: (NatsServerHandle | undefined)[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.allSettled(handles.flatMap((h) => (h ? [h.stop()] : [])));
    await rm(root, { recursive: true, force: true });
  };
  t.after(stop);

  const ports = await distinctPorts(size * 3);
  const clusterName = `pf${process.pid.toString(36)}`;
  const routes = Array.from({ length: size }, (_, i) => `nats-route://127.0.0.1:${ports[size + i]!}`);
  const monitorUrl = (i: number): string => `http://127.0.0.1:${ports[2 * size + i]!}/jsz`;
  const configFor = (i: number): string =>
    [
      `server_name: n${i + 1}`,
      `http: "127.0.0.1:${ports[2 * size + i]!}"`,
      size > 1
        ? `cluster {\n  name: ${clusterName}\n  listen: "127.0.0.1:${ports[size + i]!}"\n  routes: [\n    ${routes.join("\n    ")}\n  ]\n}`
        : "",
      "",
    ].join("\n");

  const launch = (i: number): Promise<NatsServerHandle> =>
    startNatsServer({
      storeDir: join(root, `n${i + 1}`),
      port: ports[i]!,
      logFile: join(root, `n${i + 1}.log`),
      extraConfig: configFor(i),
      maxRestarts: 0, // a killed node stays down: the test decides when it comes back
      ...(opts.token ? { token: opts.token } : {}),
      ...(opts.users ? { users: opts.users } : {}),
    });

  const running = (i: number): boolean => handles[i]?.pid !== undefined;
  const waitForJetStream = async (timeoutMs = 30_000, only?: number): Promise<void> => {
    if (size === 1) return; // a lone server runs JetStream standalone: ready once it listens
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const up = handles.map((_, i) => i).filter(running);
      const names = new Set(up.map((i) => `n${i + 1}`));
      // every running node (or the one named) must see a leader; the leader's own view lists its peers
      const metas = await Promise.all(up.map(async (i) => ({ i, meta: await readMeta(monitorUrl(i)) })));
      const asked = only === undefined ? metas : metas.filter((m) => m.i === only);
      const blind = asked.filter((m) => !m.meta?.leader).map((m) => `n${m.i + 1}`);
      const leaderName = asked.find((m) => m.meta?.leader)?.meta?.leader;
      const leader = metas.find((m) => `n${m.i + 1}` === leaderName)?.meta;
      const current = new Set([leaderName, ...(leader?.replicas ?? []).filter((r) => r.current && !r.offline).map((r) => r.name)]);
      const behind = [...names].filter((n) => !current.has(n));
      if (blind.length === 0 && leader && behind.length === 0) return;
      const last = blind.length > 0 ? `no meta leader seen by ${blind.join(", ")}` : `not current at the leader ${leaderName}: ${behind.join(", ")}`;
      if (Date.now() > deadline) throw new Error(`the NATS cluster's JetStream is not ready: ${last} (logs in ${root})`);
      await sleep(100);
    }
  };

  try {
    // all at once: a node waits for its routes before its JetStream can elect a meta leader
    const started = await Promise.all(Array.from({ length: size }, (_, i) => launch(i)));
    handles.push(...started);
    await waitForJetStream(opts.readyTimeoutMs ?? 30_000);
  } catch (err) {
    await stop();
    throw err;
  }

  const servers: ClusterNode[] = handles.map((h, i) => ({
    name: `n${i + 1}`,
    url: h!.url,
    storeDir: join(root, `n${i + 1}`),
    get pid() {
      return handles[i]?.pid;
    },
    kill: (signal: NodeJS.Signals = "SIGKILL") => handles[i]?.kill(signal),
    restart: async () => {
      await handles[i]!.restart();
      await waitForJetStream(30_000, i);
    },
  }));
  const urls = servers.map((s) => s.url);
  return { urls, url: urls.join(","), servers, waitForJetStream: (ms) => waitForJetStream(ms), stop };
}

/** `count` free ports, all different (a port picked twice would make two nodes collide). */
async function distinctPorts(count: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < count) out.add(await pickFreePort());
  return [...out];
}

/** The node's view of the JetStream meta group, or undefined when it does not answer (yet). */
async function readMeta(url: string): Promise<MetaCluster | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { meta_cluster?: MetaCluster };
    return body.meta_cluster;
  } catch {
    return undefined;
  }
}

/**
 * Test helper (stand-in until h-shared's nats-cluster.ts is merged): `size` nats-server processes
 * on 127.0.0.1 routed into one JetStream cluster, each with its own store directory, so a test can
 * SIGKILL one node and restart it on the same ports and store. Resolves once the cluster has a
 * JetStream meta leader (streams can be created); everything stops in `t.after`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { pickFreePort } from "../../orchestrator/free-port.ts";
import { NATS_MAX_PAYLOAD } from "../../orchestrator/queue/nats-server.ts";
import type { CleanupContext } from "./cleanup.ts";
import { until } from "./until.ts";

export interface ClusterNode {
  readonly name: string;
  readonly url: string;
  /** Pid of the running process, undefined while it is down. */
  pid(): number | undefined;
  /** Sends a signal (default SIGKILL) and waits for the process to end. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts the node again on the same ports and store directory. */
  restart(): Promise<void>;
}

export interface JetStreamCluster {
  readonly urls: string[];
  readonly nodes: ClusterNode[];
  stop(): Promise<void>;
}

class Node implements ClusterNode {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #tail = "";

  constructor(
    readonly name: string,
    readonly url: string,
    private readonly conf: string,
  ) {}

  pid(): number | undefined {
    const c = this.#child;
    return c && c.exitCode === null && c.signalCode === null ? c.pid : undefined;
  }

  start(): void {
    const child = spawn("nats-server", ["-c", this.conf], { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr?.on("data", (b: Buffer) => (this.#tail = (this.#tail + b.toString()).slice(-3000)));
    this.#exited = new Promise((resolve) => child.once("exit", () => resolve()));
    this.#child = child;
  }

  tail(): string {
    return this.#tail;
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.pid() === undefined) return;
    this.#child?.kill(signal);
    await this.#exited;
  }

  async restart(): Promise<void> {
    await this.kill("SIGTERM");
    this.start();
    await waitAccepting(
      this.url,
      () => this.pid() === undefined,
      () => this.tail(),
    );
  }
}

/** Waits until a client can connect to `url` (fails fast once `dead()`). */
async function waitAccepting(url: string, dead: () => boolean, tail: () => string): Promise<void> {
  await until(
    `nats-server on ${url}`,
    async () => {
      if (dead()) throw new Error(`nats-server on ${url} exited: ${tail()}`);
      try {
        const nc = await connect({ servers: url, reconnect: false, timeout: 1000 });
        await nc.close();
        return true;
      } catch {
        return undefined;
      }
    },
    20_000,
    100,
  );
}

/** Starts the cluster and waits for its JetStream meta leader. */
export async function startJetStreamCluster(t: CleanupContext, opts: { size?: number } = {}): Promise<JetStreamCluster> {
  const size = opts.size ?? 3;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-natscluster-"));
  const ports = [];
  for (let i = 0; i < size; i += 1) ports.push({ client: await pickFreePort(), route: await pickFreePort() });
  const routes = ports.map((p) => `"nats-route://127.0.0.1:${p.route}"`).join(", ");
  const nodes = ports.map((p, i) => {
    const name = `n${i + 1}`;
    const dir = path.join(root, name);
    fs.mkdirSync(dir, { recursive: true });
    const conf = path.join(dir, "server.conf");
    fs.writeFileSync(
      conf,
      [
        `server_name: "${name}"`,
        `listen: "127.0.0.1:${p.client}"`,
        `max_payload: ${NATS_MAX_PAYLOAD}`,
        `jetstream { store_dir: ${JSON.stringify(path.join(dir, "js"))} }`,
        `cluster { name: "podfleet-test", listen: "127.0.0.1:${p.route}", routes: [${routes}] }`,
        "",
      ].join("\n"),
    );
    return new Node(name, `nats://127.0.0.1:${p.client}`, conf);
  });
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.kill("SIGTERM")));
    fs.rmSync(root, { recursive: true, force: true });
  };
  t.after(stop);
  for (const n of nodes) n.start();
  for (const n of nodes)
    await waitAccepting(
      n.url,
      () => n.pid() === undefined,
      () => n.tail(),
    );
  const urls = nodes.map((n) => n.url);
  const nc = await connect({ servers: urls });
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false });
    await until(
      "a JetStream meta leader",
      () =>
        jsm.getAccountInfo().then(
          () => true,
          () => undefined,
        ),
      30_000,
      200,
    );
  } finally {
    await nc.close();
  }
  return { urls, nodes, stop };
}

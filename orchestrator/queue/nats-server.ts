/**
 * A supervised local `nats-server` child process with JetStream enabled.
 *
 * The orchestrator (and the tests) run their own NATS server next to them: this module picks a
 * port, starts the binary, waits until it accepts TCP connections, restarts it on the same port
 * and store directory if it dies unexpectedly (bounded, with backoff), and makes sure it never
 * outlives the Node process that started it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { createConnection } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { pickFreePort } from "../free-port.ts";
import { isLiveProcess } from "../live-process.ts";

export interface NatsServerOptions {
  /** JetStream store directory (created if missing); survives restarts. */
  readonly storeDir: string;
  readonly host?: "127.0.0.1";
  /** TCP port; 0 or absent picks a free port once, which restarts then reuse. */
  readonly port?: number;
  /** Append the server's stdout/stderr here; otherwise only a short tail is kept for errors. */
  readonly logFile?: string;
  /** Require this token from clients. Written to a mode-600 config file in storeDir, never on the command line or in a log. */
  readonly token?: string;
  /**
   * Or require one of these users (nats-server cannot mix a token with users). A user without
   * permissions may do anything; one with permissions only what they allow. Written like `token`.
   */
  readonly users?: readonly NatsUser[];
  /**
   * Records the child's pid here. A server left running by a previous owner that was SIGKILLed
   * (its exit hooks never ran) is found through this file and killed before a new one starts,
   * since two servers must never share one store directory.
   */
  readonly pidFile?: string;
  /**
   * Largest message the server accepts (`max_payload`); default NATS_MAX_PAYLOAD (8 MiB) so a chunk
   * job can carry its audio (contract/wire.ts). NATS allows up to 64 MiB; 1 MiB is its default.
   */
  readonly maxPayloadBytes?: number;
  /**
   * More nats-server config appended to the generated file (e.g. `server_name` and a `cluster`
   * block: test/support/nats-cluster.ts starts a JetStream cluster this way).
   */
  readonly extraConfig?: string;
  /** Path or name of the binary; default `nats-server`. */
  readonly binary?: string;
  /** How long to wait for the server to accept connections; default 10 s. */
  readonly readyTimeoutMs?: number;
  /** Unexpected exits restarted in a row before giving up; default 5. */
  readonly maxRestarts?: number;
}

export interface NatsUser {
  readonly user: string;
  readonly password: string;
  readonly permissions?: { readonly publish: readonly string[]; readonly subscribe: readonly string[] };
}

/** The `authorization` block of a nats-server config for a token or a list of users (JSON strings are valid NATS config strings). */
export function authorizationConfig(auth: { token?: string; users?: readonly NatsUser[] }): string {
  if (auth.token && auth.users?.length) throw new TypeError("nats-server takes a token or users, not both");
  if (auth.token) return `authorization { token: ${JSON.stringify(auth.token)} }\n`;
  const list = (items: readonly string[]): string => `[\n${items.map((i) => `          ${JSON.stringify(i)}`).join(",\n")}\n        ]`;
  const users = (auth.users ?? []).map((u) => {
    const perms = u.permissions
      ? `,\n      permissions: {\n        publish: { allow: ${list(u.permissions.publish)} },\n        subscribe: { allow: ${list(u.permissions.subscribe)} }\n      }`
      : "";
    return `    { user: ${JSON.stringify(u.user)}, password: ${JSON.stringify(u.password)}${perms} }`;
  });
  return `authorization {\n  users: [\n${users.join(",\n")}\n  ]\n}\n`;
}

/**
 * The embedded server's `max_payload`: 8 MiB, the largest size NATS recommends, holds a 60 s chunk's
 * WAV (1.9 MB) four times over. Chunks too big for a connection's max_payload fall back to the
 * Object Store (episodes/chunk-jobs.ts).
 */
export const NATS_MAX_PAYLOAD = 8 * 1024 * 1024;

/** The server config the child gets: max_payload, the authorization block when there is one, and any extra config. */
export function serverConfig(opts: Pick<NatsServerOptions, "token" | "users" | "maxPayloadBytes" | "extraConfig">): string {
  const auth = opts.token || opts.users?.length ? authorizationConfig(opts) : "";
  return `max_payload: ${opts.maxPayloadBytes ?? NATS_MAX_PAYLOAD}\n${auth}${opts.extraConfig ?? ""}`;
}

/** Events: `exit` (code, signal) on every child exit, `restart` (pid) after a supervised restart, `failed` (Error) when supervision gives up. */
export interface NatsServerHandle extends EventEmitter {
  /** `nats://127.0.0.1:PORT`; stable across restarts. */
  readonly url: string;
  readonly port: number;
  /** Pid of the current child, or undefined while it is down. */
  readonly pid: number | undefined;
  /** Stops the server for good (SIGTERM, then SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
  /** Stops and starts the server again on the same port and store (for fault tests). */
  restart(): Promise<void>;
  /** Sends a signal to the child as if it crashed; the supervisor then restarts it. */
  kill(signal?: NodeJS.Signals): void;
}

/** The server could not be started: binary missing, port taken, or never became ready. */
export class NatsServerStartError extends Error {
  override readonly name = "NatsServerStartError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Starts `nats-server -js` and resolves once it accepts connections. */
export async function startNatsServer(opts: NatsServerOptions): Promise<NatsServerHandle> {
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port && opts.port > 0 ? opts.port : await pickFreePort(host);
  mkdirSync(opts.storeDir, { recursive: true, mode: 0o700 });
  if (opts.pidFile) await killStaleServer(opts.pidFile, opts.storeDir);
  const server = new SupervisedNatsServer(opts, host, port);
  await server.launch();
  return server;
}

const STDERR_TAIL = 4000;

class SupervisedNatsServer extends EventEmitter implements NatsServerHandle {
  readonly url: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #stopping = false;
  #restarts = 0;
  /** Bumped by stop()/restart() so a supervised restart already scheduled stands down. */
  #epoch = 0;
  #tail = "";
  #log: WriteStream | undefined;
  readonly #onProcessExit = (): void => {
    this.#child?.kill("SIGKILL");
  };

  constructor(
    private readonly opts: NatsServerOptions,
    private readonly host: string,
    readonly port: number,
  ) {
    super();
    this.url = `nats://${host}:${port}`;
    if (opts.logFile) this.#log = createWriteStream(opts.logFile, { flags: "a", mode: 0o600 });
    process.on("exit", this.#onProcessExit);
  }

  get pid(): number | undefined {
    const child = this.#child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  /** Spawns the child and waits for readiness; rejects (and kills it) if it never gets there. */
  async launch(): Promise<void> {
    const bin = this.opts.binary ?? "nats-server";
    const args = ["-js", "-sd", this.opts.storeDir, "-a", this.host, "-p", String(this.port)];
    // one mode-600 config file: secrets never go on the command line
    const conf = join(this.opts.storeDir, "server.conf");
    writeFileSync(conf, serverConfig(this.opts), { mode: 0o600 });
    args.push("-c", conf);
    rmSync(join(this.opts.storeDir, "auth.conf"), { force: true }); // the file's name before max_payload
    this.#tail = "";
    let sawReadyLine = false;
    const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    const onData = (buf: Buffer): void => {
      this.#log?.write(buf);
      this.#tail = (this.#tail + buf.toString("utf8")).slice(-STDERR_TAIL);
      if (!sawReadyLine && this.#tail.includes("Server is ready")) sawReadyLine = true;
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);

    let spawnError: Error | undefined;
    let ready = false;
    this.#exited = new Promise<void>((resolve) => {
      child.on("error", (err) => {
        spawnError = err;
        resolve();
      });
      child.once("exit", (code, signal) => {
        resolve();
        this.emit("exit", code, signal);
        // only a server that was up is supervised here; launch failures are the caller's
        if (ready && this.#child === child && !this.#stopping) this.#superviseExit(code, signal);
      });
    });

    const deadline = Date.now() + (this.opts.readyTimeoutMs ?? 10_000);
    for (;;) {
      if (spawnError) {
        const code = (spawnError as NodeJS.ErrnoException).code;
        throw new NatsServerStartError(
          code === "ENOENT" ? `${bin} not found on PATH: install it: apt-get install nats-server` : `could not start ${bin}: ${spawnError.message}`,
          { cause: spawnError },
        );
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new NatsServerStartError(
          `${bin} exited (${child.exitCode ?? child.signalCode}) before it was ready on ${this.url}: ${this.#tail.trim().slice(-800)}`,
        );
      }
      // the log line proves it is our server listening (not a stranger on a reused port)
      if (sawReadyLine && (await canConnect(this.host, this.port))) {
        ready = true;
        if (this.opts.pidFile && child.pid) writeFileSync(this.opts.pidFile, String(child.pid), { mode: 0o600 });
        return;
      }
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        throw new NatsServerStartError(`${bin} did not accept connections on ${this.url} in time: ${this.#tail.trim().slice(-800)}`);
      }
      await sleep(50);
    }
  }

  #superviseExit(code: number | null, signal: NodeJS.Signals | null): void {
    const max = this.opts.maxRestarts ?? 5;
    if (this.#restarts >= max) {
      this.#fail(new NatsServerStartError(`nats-server on ${this.url} died ${this.#restarts + 1} times (last: ${code ?? signal}); giving up`));
      return;
    }
    const delay = Math.min(100 * 2 ** this.#restarts, 5_000);
    this.#restarts += 1;
    void this.#restartAfter(delay, this.#epoch);
  }

  async #restartAfter(delayMs: number, epoch: number): Promise<void> {
    await sleep(delayMs);
    if (this.#stopping || epoch !== this.#epoch) return;
    try {
      await this.launch();
      this.emit("restart", this.pid);
      // a server that stays up for a while earns its restart budget back
      const pid = this.pid;
      setTimeout(() => {
        if (this.pid === pid) this.#restarts = 0;
      }, 30_000).unref();
    } catch (err) {
      if (this.#stopping || epoch !== this.#epoch) return;
      if (this.#restarts >= (this.opts.maxRestarts ?? 5)) this.#fail(err);
      else this.#superviseExit(null, null);
    }
  }

  #fail(err: unknown): void {
    process.off("exit", this.#onProcessExit);
    if (this.listenerCount("failed") > 0) this.emit("failed", err);
  }

  async #terminate(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      await this.#exited;
      return;
    }
    child.kill("SIGTERM");
    const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await this.#exited;
    clearTimeout(killer);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.#epoch += 1;
    await this.#terminate();
    if (this.opts.pidFile) rmSync(this.opts.pidFile, { force: true });
    process.off("exit", this.#onProcessExit);
    if (this.#log) {
      const log = this.#log;
      this.#log = undefined;
      await new Promise<void>((resolve) => log.end(resolve));
    }
  }

  async restart(): Promise<void> {
    this.#stopping = true;
    this.#epoch += 1;
    await this.#terminate();
    this.#stopping = false;
    this.#restarts = 0;
    await this.launch();
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): void {
    this.#child?.kill(signal);
  }
}

/** Kills the nats-server recorded in `pidFile` if it still runs on `storeDir`, and waits until it is gone. */
async function killStaleServer(pidFile: string, storeDir: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, "utf8").trim());
  } catch {
    return;
  }
  const isStale = (): boolean => {
    try {
      // the pid may have been reused by an unrelated process: only a nats-server on this store counts
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      return cmd.some((a) => a.endsWith("nats-server")) && cmd.includes(storeDir) && isLiveProcess(pid);
    } catch {
      return false;
    }
  };
  if (pid > 0 && isStale()) {
    process.kill(pid, "SIGKILL");
    const deadline = Date.now() + 5_000;
    while (isStale()) {
      if (Date.now() > deadline) throw new NatsServerStartError(`a stale nats-server (pid ${pid}) on ${storeDir} would not die`);
      await sleep(50);
    }
  }
  rmSync(pidFile, { force: true });
}

async function canConnect(host: string, port: number): Promise<boolean> {
  return await new Promise<boolean>((resolve) => {
    const sock = createConnection({ host, port });
    sock.setTimeout(1_000);
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("timeout", () => {
      sock.destroy();
      resolve(false);
    });
    sock.once("error", () => resolve(false));
  });
}

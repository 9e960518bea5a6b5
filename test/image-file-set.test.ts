/**
 * The images can run what they ship. No Docker engine runs here, so for each Dockerfile the test
 * assembles exactly the file set of its last stage in a temp dir, from its COPY lines:
 * - from the build context (the repository): the paths named, nothing else;
 * - from a stage whose content comes from the repository (`npm ci --omit=dev` and `node …` RUNs):
 *   that stage is assembled the same way and its RUNs are replayed: `npm ci --omit=dev` installs
 *   (hard links) exactly the lockfile's production packages, no dev dependency, no package the
 *   image drops; a `node` RUN (the worker bundle build) runs as written, absolute paths inside the
 *   stage's root;
 * - from a stage built from outside the repository (whisper.cpp from git, a model download): not
 *   assembled; the test pins that list, so a repository COPY cannot hide there.
 * Then it runs the stage's CMD with its ENV: the orchestrator's `up` against an external
 * nats-server and a Machines API stand-in (the local runtime's HTTP server, as "Fly") until
 * /healthz answers, and the worker bundle against NATS until it exits idle. A COPY line removed
 * from a Dockerfile makes the CMD fail here.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { wireNames } from "../contract/wire.ts";
import { LocalMachinesRuntime } from "../orchestrator/fleet/local-runtime.ts";
import { sleeperLaunch, writeSleeperScript } from "./support/sleeper-machine.ts";
import { NatsWorkQueue } from "../orchestrator/queue/nats-work-queue.ts";
import { copyTarget, parseDockerfile, type Stage } from "./support/dockerfile-stages.ts";
import { startTestNats, uniquePrefix } from "./support/nats.ts";
import { until, UntilTimeoutError } from "./support/until.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

interface Assembled {
  /** The image's filesystem root in a temp dir (image path /x is `${root}/x`). */
  root: string;
  /** COPY lines from stages built outside the repository, not assembled. */
  external: string[];
}

const inRoot = (root: string, imagePath: string): string => path.join(root, imagePath);

/** `npm ci --omit=dev` in `dir`, from the lockfile copied there: hard links of the production packages only. */
function installProductionModules(dir: string, dropped: RegExp): void {
  const lock = JSON.parse(fs.readFileSync(path.join(dir, "package-lock.json"), "utf8")) as { packages: Record<string, { dev?: boolean }> };
  const source = fs.realpathSync(path.join(ROOT, "node_modules"));
  for (const [key, entry] of Object.entries(lock.packages)) {
    // Top-level packages only: nested ones come inside their parent's directory.
    if (!key.startsWith("node_modules/") || key.slice("node_modules/".length).includes("node_modules/")) continue;
    const name = key.slice("node_modules/".length);
    if (entry.dev || dropped.test(name)) continue;
    const from = path.join(source, name);
    if (!fs.existsSync(from)) continue; // an optional package for another platform: npm ci skips it too
    fs.mkdirSync(path.dirname(path.join(dir, key)), { recursive: true });
    execFileSync("cp", ["-al", from, path.join(dir, key)]);
  }
}

/** Replays a repository-built stage's RUN lines; false when a RUN needs the outside world. */
function replayable(stage: Stage): boolean {
  return stage.runs.every((run) => /^npm ci --omit=dev\b/.test(run) || /^node /.test(run));
}

function runStage(stage: Stage, root: string): void {
  const cwd = inRoot(root, stage.workdir);
  for (const run of stage.runs) {
    if (/^npm ci --omit=dev\b/.test(run)) {
      // The same RUN drops the Node binaries the lockfile carries for bare machines.
      installProductionModules(cwd, /^node-linux-/);
      continue;
    }
    const [, ...args] = run.split(/\s+/);
    execFileSync(
      process.execPath,
      args.map((a) => (a.startsWith("/") ? inRoot(root, a) : a)),
      { cwd, stdio: "pipe", env: { PATH: process.env.PATH ?? "" } },
    );
  }
}

/** Assembles stage `name` of `stages` into a new temp root. */
function assemble(stages: Stage[], name: string, t: TestContext): Assembled {
  const stage = stages.find((s) => s.name === name)!;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `podfleet-image-${name}-`));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const external: string[] = [];
  for (const copy of stage.copies) {
    let from = ROOT;
    if (copy.from !== undefined) {
      const source = stages.find((s) => s.name === copy.from);
      assert.ok(source, `COPY --from=${copy.from}: no such stage`);
      // A stage built on another stage, or on one chosen by a build arg, is not from the repository alone.
      const fixed = source.base.split("${")[0]!;
      const derived = stages.some((s) => s.name === source.base || (fixed !== source.base && fixed !== "" && s.name.startsWith(fixed)));
      if (!derived && replayable(source)) {
        from = assemble(stages, source.name, t).root;
      } else {
        external.push(copy.line);
        continue;
      }
    }
    for (const src of copy.sources) {
      const abs = copy.from === undefined ? path.join(from, src) : inRoot(from, src);
      assert.ok(fs.existsSync(abs), `${copy.line}: ${src} does not exist`);
      const target = inRoot(root, copyTarget(copy, src));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.cpSync(abs, target, { recursive: true, verbatimSymlinks: true });
    }
  }
  if (name !== stages[stages.length - 1]!.name) runStage(stage, root);
  return { root, external };
}

interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the last stage's CMD (exec form, `node` first) with its ENV, image paths inside `root`. */
function runCmd(t: TestContext, stage: Stage, root: string, overrides: Record<string, string>): Running {
  const [program, ...args] = stage.cmd ?? [];
  assert.equal(program, "node", "CMD runs node");
  const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOME: root, TMPDIR: os.tmpdir() };
  for (const [key, value] of Object.entries(stage.env)) env[key] = value.startsWith("/") ? inRoot(root, value) : value;
  Object.assign(env, overrides);
  const child = spawn(
    process.execPath,
    args.map((a) => (a.startsWith("/") ? inRoot(root, a) : a)),
    {
      cwd: inRoot(root, stage.workdir),
      env,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  return { child, output: () => output, exited };
}

/** Resolves with `probe()`'s value once it is defined; fails early if the process exits first. */
async function ready<T>(running: Running, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void running.exited.then((e) => (exited = e));
  try {
    return await until(
      "the image's CMD to be ready",
      async () => {
        const value = await probe();
        if (value === undefined && exited)
          assert.fail(`the image's CMD exited (${exited.code ?? exited.signal}) before it was ready:\n${running.output().slice(-3000)}`);
        return value;
      },
      timeoutMs,
    );
  } catch (err) {
    if (err instanceof UntilTimeoutError) assert.fail(`not ready in ${timeoutMs} ms:\n${running.output().slice(-3000)}`);
    throw err;
  }
}

test("orchestrator image: its file set runs `up` against external NATS and a Machines API, and serves /healthz", async (t) => {
  const stages = parseDockerfile(fs.readFileSync(path.join(ROOT, "orchestrator/Dockerfile"), "utf8"));
  const image = stages[stages.length - 1]!;
  const began = performance.now();
  const { root, external } = assemble(stages, image.name, t);
  assert.deepEqual(external, [], "everything in the orchestrator image comes from the repository");
  const assembledMs = performance.now() - began;

  const nats = await startTestNats(t);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-image-fly-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fly = new LocalMachinesRuntime({ app: "podfleet-image-test", launch: sleeperLaunch(writeSleeperScript(dir)) });
  const api = await fly.start();
  t.after(() => fly.close());

  const dataDir = String(image.env.PODFLEET_DATA_DIR);
  fs.mkdirSync(inRoot(root, dataDir), { recursive: true });
  const up = runCmd(t, image, root, {
    // Loopback only in tests (the image listens on ::); a kernel-chosen port.
    PODFLEET_HOST: "127.0.0.1",
    PORT: "0",
    NATS_URL: nats.url,
    PODFLEET_NATS_PREFIX: uniquePrefix("img"),
    FLY_API_URL: api.url,
    FLY_API_TOKEN: api.token,
    FLY_APP: "podfleet-image-test",
    PODFLEET_WORKER_IMAGE: "registry.fly.io/podfleet-workers:test",
    PODFLEET_MAX_MACHINES: "0",
  });
  const urlFile = path.join(inRoot(root, dataDir), "orchestrator.url");
  const url = await ready(up, () => (fs.existsSync(urlFile) ? fs.readFileSync(urlFile, "utf8").trim() || undefined : undefined), 120_000);
  const health = await fetch(`${url}/healthz`);
  assert.equal(health.status, 200);
  await health.arrayBuffer();
  const readyMs = performance.now() - began;
  assert.match(up.output(), /orchestrator listening/);
  assert.match(up.output(), /"machines":"fly"/);

  up.child.kill("SIGTERM");
  const exit = await up.exited;
  assert.equal(exit.code, 0, `clean shutdown:\n${up.output().slice(-2000)}`);
  t.diagnostic(`orchestrator image: file set assembled in ${assembledMs.toFixed(0)} ms, /healthz after ${readyMs.toFixed(0)} ms`);
});

test("worker image: its file set (the bundle built as the Dockerfile builds it) connects to NATS and exits idle", async (t) => {
  const stages = parseDockerfile(fs.readFileSync(path.join(ROOT, "machine-image/Dockerfile"), "utf8"));
  const image = stages[stages.length - 1]!;
  const began = performance.now();
  const { root, external } = assemble(stages, image.name, t);
  // Only whisper.cpp (built from git) and the model (downloaded) come from outside the repository.
  assert.deepEqual(
    external.map((line) => /--from=(\S+)/.exec(line)?.[1]),
    ["whisper", "model"],
  );
  const assembledMs = performance.now() - began;
  const app = inRoot(root, "/app");
  assert.deepEqual(fs.existsSync(app) ? fs.readdirSync(app) : [], ["worker.mjs"], "/app holds the worker bundle and nothing else (no node_modules)");

  const nats = await startTestNats(t);
  const prefix = uniquePrefix("imgw");
  const nc = await connect({ servers: nats.url });
  try {
    await NatsWorkQueue.open(nc, wireNames(prefix), { ackWaitMs: 10_000, maxDeliver: 3, audioDir: path.join(root, "audio-unused") }); // the streams the orchestrator makes
  } finally {
    await nc.drain();
  }

  const worker = runCmd(t, image, root, {
    NATS_URL: nats.url,
    PODFLEET_NATS_PREFIX: prefix,
    // whisper-server and the model come from the external stages; the benchmark engine needs neither.
    ENGINE: "synthetic",
    PODFLEET_IDLE_TIMEOUT_SEC: "1",
  });
  const exit = await worker.exited;
  const ranMs = performance.now() - began;
  assert.equal(exit.code, 0, `exits 0 when idle:\n${worker.output().slice(-2000)}`);
  assert.match(worker.output(), /worker\.stopped/);
  assert.match(worker.output(), /idle/);
  t.diagnostic(
    `worker image: file set assembled (bundle built) in ${assembledMs.toFixed(0)} ms, connected and exited idle after ${ranMs.toFixed(0)} ms`,
  );
});

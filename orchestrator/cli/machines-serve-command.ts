/**
 * `podfleet machines serve`: LocalMachinesRuntime (fleet/local-runtime.ts) as a standalone server,
 * the shared Machines API of several orchestrators on one computer, as the Fly Machines API is
 * on Fly. Each orchestrator runs in Fly mode against it (FLY_API_URL = its URL); machines run the
 * worker bundle as local processes, with the env the orchestrators put in their machine config.
 *
 * The token lives in a mode-600 file and is reused when the file exists, so a restarted runtime
 * keeps the orchestrators' FLY_API_TOKEN valid; it is never printed. Machine processes carry the
 * runtime directory (the token file's) as their owner tag: a start after a SIGKILLed run kills
 * what that run left, as `podfleet up` does for its embedded runtime.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { DEFAULT_LOCAL_MACHINE_ENV } from "../config.ts";
import { LISTEN_PORT } from "../input-bounds.ts";
import { localWorkerEnv } from "../fleet/local-worker-env.ts";
import { boundedFlag } from "./cli-args.ts";
import { CliError, EXIT } from "./cli-error.ts";
import type { CommandContext } from "./command-action.ts";
import { localDataDir } from "./target.ts";
import { writeJson } from "./terminal-text.ts";

/** The app name the runtime answers for unless --app says otherwise. */
export const DEFAULT_SERVE_APP = "podfleet-local";

const APP_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** The token in `file`, or a new one written there (mode 600) when the file is absent. */
export function tokenFromFile(file: string): string {
  if (fs.existsSync(file)) {
    const token = fs.readFileSync(file, "utf8").trim();
    if (token.length < 16) throw new CliError(`--token-file ${file}: holds no token (at least 16 characters); delete it to get a new one`);
    return token;
  }
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const token = randomBytes(24).toString("base64url");
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600, flag: "wx" });
  return token;
}

/** The variables of this process's environment that machines get: PODFLEET_LOCAL_MACHINE_ENV's names and the models directory. */
function machineEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const names = (env.PODFLEET_LOCAL_MACHINE_ENV || DEFAULT_LOCAL_MACHINE_ENV).split(",").map((n) => n.trim());
  const named = Object.fromEntries(names.flatMap((n) => (env[n] ? [[n, env[n]]] : [])));
  return {
    ...localWorkerEnv({ localMachineEnv: named }),
    ...(env.PODFLEET_MODELS_DIR ? { PODFLEET_MODELS_DIR: path.resolve(env.PODFLEET_MODELS_DIR) } : {}),
  };
}

/** Serves until SIGINT/SIGTERM, then stops every machine and exits 0. */
export async function machinesServe(ctx: CommandContext): Promise<number> {
  const port = boundedFlag("port", ctx.flags.port as string | undefined, LISTEN_PORT) ?? 0;
  const app = (ctx.flags.app as string | undefined) ?? DEFAULT_SERVE_APP;
  if (!APP_NAME.test(app)) throw new CliError(`--app must be lowercase letters, digits and -, got "${app}"`, EXIT.usage);
  const tokenFile = path.resolve((ctx.flags["token-file"] as string | undefined) ?? path.join(localDataDir(ctx), "machines-api", "token"));
  const token = tokenFromFile(tokenFile);
  const dir = path.dirname(tokenFile);

  // the runtime and the worker bundle are in the source checkout only (not in the orchestrator image)
  const [{ LocalMachinesRuntime, killLeftoverMachines }, { workerLaunchSpec }, { buildWorkerBundle }] = await Promise.all([
    import("../fleet/local-runtime.ts"),
    import("../fleet/worker-launch.ts"),
    import("../../machine-image/build-worker.ts"),
  ]);
  const killed = await killLeftoverMachines(dir);
  if (killed.length > 0) process.stderr.write(`podfleet: killed ${killed.length} machine process(es) a previous run on ${dir} left behind\n`);
  const spec = workerLaunchSpec(await buildWorkerBundle(path.join(dir, "worker", "worker.mjs")));
  const extra = machineEnv(ctx.env);
  const runtime = new LocalMachinesRuntime({
    app,
    token,
    port,
    owner: dir,
    logDir: path.join(dir, "logs"),
    launch: () => ({ ...spec, env: { ...spec.env, ...extra } }),
    ...(ctx.flags["rate-limit"] === false ? { rateLimits: false as const } : {}),
  });
  let url: string;
  try {
    ({ url } = await runtime.start());
  } catch (err) {
    await runtime.close();
    if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") throw new CliError(`--port ${port}: already in use on 127.0.0.1`);
    throw err;
  }
  if (ctx.json) writeJson({ url, app, tokenFile, logs: path.join(dir, "logs") });
  else {
    process.stdout.write(
      `podfleet machines API on ${url} (app ${app}); token in ${tokenFile}; machine logs in ${path.join(dir, "logs")}; Ctrl-C to stop\n` +
        `orchestrators: FLY_API_URL=${url} FLY_APP=${app} FLY_API_TOKEN="$(cat ${tokenFile})" PODFLEET_WORKER_IMAGE=podfleet-worker:local NATS_URL=...\n`,
    );
  }
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  process.stderr.write("podfleet: stopping the machines API and its machines\n");
  await runtime.close();
  return EXIT.ok;
}

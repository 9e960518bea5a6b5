/**
 * The extra environment local machines get, so Whisper runs on one's own machine with no
 * configuration: the variables PODFLEET_LOCAL_MACHINE_ENV names (config.localMachineEnv), and
 * the whisper-server binary that scripts/build-whisper-server.sh builds under the checkout's
 * .cache/whisper/ when the operator named none and none is on PATH. The models directory
 * (PODFLEET_MODELS_DIR) is passed with the rest of the worker env (parts/fleet-part.ts).
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Config } from "../config.ts";

/** Where scripts/setup.sh (through build-whisper-server.sh) leaves whisper-server. */
export const BUILT_WHISPER_SERVER = fileURLToPath(new URL("../../.cache/whisper/whisper-server", import.meta.url));

function executable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `name` found on `PATH` (as a shell would), or undefined. */
export function onPath(name: string, pathVar = process.env.PATH ?? ""): string | undefined {
  for (const dir of pathVar.split(path.delimiter)) {
    if (dir && executable(path.join(dir, name))) return path.join(dir, name);
  }
  return undefined;
}

export function localWorkerEnv(
  config: Pick<Config, "localMachineEnv">,
  opts: { pathVar?: string; builtServer?: string } = {},
): Record<string, string> {
  const env = { ...config.localMachineEnv };
  const built = opts.builtServer ?? BUILT_WHISPER_SERVER;
  if (env.WHISPER_SERVER_BIN === undefined && !onPath("whisper-server", opts.pathVar) && executable(built)) env.WHISPER_SERVER_BIN = built;
  return env;
}

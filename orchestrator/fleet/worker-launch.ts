/**
 * How the local machines runtime runs the worker image: this Node binary on the worker compiled
 * into one self-contained JavaScript file (what the machine image ships too), or, without a bundle,
 * on machine-image/worker/main.ts through tsx. The bundle comes from machine-image/build-worker.ts.
 * The machine's env (NATS URL and account, prefix, engine, timeouts) comes from the machine config
 * the autoscaler sends.
 *
 * Why a bundle: starting the TypeScript sources through tsx costs about 1.1 s of CPU per worker
 * process here, the bundle about 0.2 s. One machine does not notice; 32 machines starting at once
 * on a 2-core box do (BENCHMARKS.md, scaling).
 */
import { fileURLToPath } from "node:url";
import { WORKER_MAIN } from "../../machine-image/build-worker.ts";
import type { LaunchSpec } from "./local-runtime/machine-process.ts";

const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The worker as a process: `node BUNDLE` when given one, else `node --import tsx main.ts`. */
export function workerLaunchSpec(bundle?: string): LaunchSpec {
  const env: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "TMPDIR", "LANG"] as const) {
    const v = process.env[key];
    if (v !== undefined) env[key] = v;
  }
  if (bundle) return { command: process.execPath, args: [bundle], env, cwd: PROJECT_ROOT };
  return { command: process.execPath, args: ["--import", import.meta.resolve("tsx"), WORKER_MAIN], env, cwd: PROJECT_ROOT };
}

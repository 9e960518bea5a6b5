/**
 * How the local machines runtime runs the worker image: this Node binary, with tsx so the
 * TypeScript sources run as they are, on machine-image/worker/main.ts. The machine's env
 * (NATS URL, prefix, engine, timeouts) comes from the machine config the autoscaler sends.
 */
import { fileURLToPath } from "node:url";

const WORKER_MAIN = fileURLToPath(new URL("../../machine-image/worker/main.ts", import.meta.url));
const PROJECT_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export function workerLaunchSpec(): { command: string; args: string[]; env: Record<string, string>; cwd: string } {
  const tsx = import.meta.resolve("tsx");
  const env: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "TMPDIR", "LANG"] as const) {
    const v = process.env[key];
    if (v !== undefined) env[key] = v;
  }
  return { command: process.execPath, args: ["--import", tsx, WORKER_MAIN], env, cwd: PROJECT_ROOT };
}

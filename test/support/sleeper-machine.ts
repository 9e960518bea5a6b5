/**
 * A stand-in machine image for tests of the local runtime: a tiny node script
 * whose behaviour comes from the machine's env, so a test describes a machine purely
 * through its Fly config.
 *   SLEEP_MS        exit after this many ms (absent or negative: run until signalled)
 *   EXIT_CODE       code to exit with after SLEEP_MS (default 0)
 *   IGNORE_SIGNALS  "1": ignore SIGINT/SIGTERM, so only SIGKILL ends it
 * On start it prints the FLY_* variables it was given, one `KEY=VALUE` a line, then
 * `READY` once its signal handlers are in place.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LaunchSpec } from "../../orchestrator/fleet/local-runtime.ts";
import type { Machine } from "../../orchestrator/fleet/machine.ts";

const SCRIPT = `
const env = process.env;
for (const key of Object.keys(env).filter((k) => k.startsWith('FLY_')).sort()) console.log(key + '=' + env[key]);
if (env.IGNORE_SIGNALS === '1') { process.on('SIGTERM', () => {}); process.on('SIGINT', () => {}); }
console.log('READY');
const sleepMs = Number(env.SLEEP_MS ?? '-1');
const code = Number(env.EXIT_CODE ?? '0');
if (sleepMs >= 0) setTimeout(() => process.exit(code), sleepMs);
else setInterval(() => {}, 1 << 30);
`;

/** Writes the sleeper script into `dir` and returns its path. */
export function writeSleeperScript(dir: string): string {
  const path = join(dir, "sleeper-machine.cjs");
  writeFileSync(path, SCRIPT);
  return path;
}

/** A `launch` option for LocalMachinesRuntime that runs the sleeper script with node. */
export function sleeperLaunch(scriptPath: string): (machine: Machine) => LaunchSpec {
  return () => ({ command: process.execPath, args: [scriptPath], env: {} });
}

/** Machine env describing a sleeper's behaviour. */
export function sleeperEnv(behaviour: { runMs?: number; exitCode?: number; ignoreSignals?: boolean }): Record<string, string> {
  const env: Record<string, string> = {};
  if (behaviour.runMs !== undefined) env.SLEEP_MS = String(behaviour.runMs);
  if (behaviour.exitCode !== undefined) env.EXIT_CODE = String(behaviour.exitCode);
  if (behaviour.ignoreSignals) env.IGNORE_SIGNALS = "1";
  return env;
}

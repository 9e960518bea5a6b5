/**
 * Glue between commander and a command's implementation: an action that loads the
 * implementation lazily (lazy-module.ts), hands it the parsed flags and the global `--json` and
 * `--data-dir`, and records its exit code. Errors the implementation throws that are not yet a
 * CliError are turned into one by known-errors.ts, loaded only then.
 */
import type { Command } from "commander";
import { CliError } from "./cli-error.ts";
import { lazyModule } from "./lazy-module.ts";

/** What every command implementation receives. Flags keep their command-line spelling (`data-dir`, `max-machines`). */
export interface CommandContext {
  json: boolean;
  dataDir: string | undefined;
  env: NodeJS.ProcessEnv;
  flags: Record<string, unknown>;
}

/** The process's environment and the last action's exit code, set by main.ts. */
export const session: { env: NodeJS.ProcessEnv; exitCode: number } = { env: process.env, exitCode: 0 };

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The command's flags (its own and the global ones), keyed as typed on the command line. */
export function contextOf(cmd: Command): CommandContext {
  const opts = cmd.optsWithGlobals<Record<string, unknown>>();
  const flags = Object.fromEntries(Object.entries(opts).map(([k, v]) => [kebab(k), v]));
  return { json: opts.json === true, dataDir: typeof opts.dataDir === "string" ? opts.dataDir : undefined, env: session.env, flags };
}

/**
 * A commander action: `args` are the command's positional arguments as strings (commander passes
 * them first, then the options object, then the command).
 */
export function action<M>(
  importer: () => Promise<M>,
  run: (m: M, ctx: CommandContext, args: string[]) => Promise<number | void> | number | void,
  /** Checks that need no orchestrator code (numeric bounds, a file that must exist): a usage error answers at once. */
  precheck?: (ctx: CommandContext, args: string[]) => Promise<void> | void,
) {
  return async (...all: unknown[]): Promise<void> => {
    const cmd = all[all.length - 1] as Command;
    const args = all.slice(0, -2).map((a) => (a === undefined ? "" : typeof a === "string" ? a : JSON.stringify(a)));
    const ctx = contextOf(cmd);
    await precheck?.(ctx, args);
    try {
      const m = await lazyModule(importer);
      session.exitCode = (await run(m, ctx, args)) ?? 0;
    } catch (err) {
      if (err instanceof CliError) throw err;
      const known = await lazyModule(() => import("./known-errors.ts"));
      throw known.toCliError(err);
    }
  };
}

/** Names of the bounds in input-bounds.ts that flags are checked against. */
type BoundsName = "CHUNK_SECONDS" | "EPISODE_LIST_LIMIT" | "FLEET_EVENTS_LIMIT" | "LISTEN_PORT" | "FEED_BACKFILL" | "FEED_INTERVAL_SEC";

/**
 * A precheck: each flag present must lie inside its bounds (the ones the API enforces); loads
 * input-bounds.ts with Node's own type stripping, not the orchestrator.
 */
export function bounded(flags: Record<string, BoundsName>) {
  return async (ctx: CommandContext): Promise<void> => {
    const [{ boundedFlag }, bounds] = await Promise.all([import("./cli-args.ts"), import("../input-bounds.ts")]);
    for (const [flag, name] of Object.entries(flags)) boundedFlag(flag, ctx.flags[flag] as string | undefined, bounds[name]);
  };
}

/** The "Examples:" block shown after a command's help. */
export function examples(lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  $ ${l}`).join("\n")}\n`;
}

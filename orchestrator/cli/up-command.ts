/** `podfleet up`: the orchestrator in the foreground until SIGINT/SIGTERM (exit 0), or a burst of unexpected errors (exit 70). */
import { parseConfig } from "../config.ts";
import { LISTEN_PORT } from "../input-bounds.ts";
import { installLastResortHandler } from "../last-resort-handler.ts";
import { createLogger } from "../log.ts";
import { startOrchestrator } from "../orchestrator.ts";
import { boundedFlag } from "./cli-args.ts";
import { EXIT } from "./cli-error.ts";
import type { CommandContext } from "./command-action.ts";
import { logFormat, readableLogLine } from "./log-lines.ts";

export async function runUp(ctx: CommandContext): Promise<number> {
  const port = boundedFlag("port", ctx.flags.port as string | undefined, LISTEN_PORT);
  const config = parseConfig(ctx.env, { dataDir: ctx.dataDir, port });
  // --json asks for JSON log lines whatever stderr is
  const text = !ctx.json && logFormat(ctx.env, Boolean(process.stderr.isTTY)) === "text";
  const log = createLogger(config.logLevel, { component: "orchestrator" }, (line) =>
    process.stderr.write((text ? readableLogLine(line) : line) + "\n"),
  );
  // What no item boundary caught is logged and survived; a burst of it stops the service (see last-resort-handler.ts).
  let broken: ((summary: string) => void) | undefined;
  const uninstall = installLastResortHandler({ log, onTooMany: (summary) => broken?.(summary) });
  // Ctrl-C is heard from the first moment: the API (and its URL file) is up before the start has
  // finished (leadership comes last), so a stop asked for then is kept and honoured once started.
  let stop: ((code: number) => void) | undefined;
  let stopAsked: number | undefined;
  const onSignal = (): void => (stop ? stop(EXIT.ok) : void (stopAsked ??= EXIT.ok));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const orchestrator = await startOrchestrator(config, log);
    process.stderr.write(`podfleet orchestrator on ${orchestrator.url} (data: ${config.dataDir}, logs: ${config.dataDir}/logs); Ctrl-C to stop\n`);
    const exitCode =
      stopAsked ??
      (await new Promise<number>((resolve) => {
        stop = resolve;
        broken = (summary) => {
          process.stderr.write(`podfleet: stopping, too many unexpected errors: ${summary}\n`);
          resolve(EXIT.internal);
        };
      }));
    process.stderr.write("podfleet: shutting down\n");
    await orchestrator.close();
    return exitCode;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    uninstall();
  }
}

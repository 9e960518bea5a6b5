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
  try {
    const orchestrator = await startOrchestrator(config, log);
    process.stderr.write(`podfleet orchestrator on ${orchestrator.url} (data: ${config.dataDir}, logs: ${config.dataDir}/logs); Ctrl-C to stop\n`);
    const exitCode = await new Promise<number>((resolve) => {
      process.once("SIGINT", () => resolve(EXIT.ok));
      process.once("SIGTERM", () => resolve(EXIT.ok));
      broken = (summary) => {
        process.stderr.write(`podfleet: stopping, too many unexpected errors: ${summary}\n`);
        resolve(EXIT.internal);
      };
    });
    process.stderr.write("podfleet: shutting down\n");
    await orchestrator.close();
    return exitCode;
  } finally {
    uninstall();
  }
}

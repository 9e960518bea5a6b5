/** `podfleet up`: run the orchestrator in the foreground. Implementation: cli/up-command.ts. */
import type { Command } from "commander";
import { action, bounded, examples } from "../command-action.ts";

export function registerUp(program: Command): void {
  program
    .command("up")
    .description("run the orchestrator and its embedded stack (NATS, database, local machines) until Ctrl-C")
    .option("--port <n>", "HTTP port (0 = any free port; default PORT or 8080)")
    .addHelpText(
      "after",
      examples(["podfleet up", "podfleet up --port 0 --data-dir /srv/podfleet", "PODFLEET_ENGINE=whisper podfleet up"]) +
        "\nLogs are readable lines on a terminal and JSON lines otherwise (PODFLEET_LOG_FORMAT=json|text overrides).\n",
    )
    .action(
      action(
        () => import("../up-command.ts"),
        (m, ctx) => m.runUp(ctx),
        bounded({ port: "LISTEN_PORT" }),
      ),
    );
}

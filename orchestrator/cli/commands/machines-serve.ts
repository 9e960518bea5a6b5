/**
 * `podfleet machines serve`: the local Machines runtime on its own, so several orchestrators can
 * share one local fleet the way orchestrators on Fly share the Fly Machines API. Implementation:
 * cli/machines-serve-command.ts.
 */
import type { Command } from "commander";
import { action, bounded, examples } from "../command-action.ts";

export function registerMachinesServe(machines: Command): void {
  machines
    .command("serve")
    .description("run a local Machines API (worker machines as local processes) for orchestrators in Fly mode, until Ctrl-C")
    .option("--port <n>", "127.0.0.1 port (default 0 = any free port)")
    .option("--token-file <file>", "where the API token is kept, mode 600 (default <data-dir>/machines-api/token; reused when present)")
    .option("--app <name>", "the app name orchestrators send as FLY_APP (default podfleet-local)")
    .option("--no-rate-limit", "turn off Fly's per-action API rate limits")
    .addHelpText(
      "after",
      examples([
        "podfleet machines serve --port 4280 --token-file /tmp/machines.token",
        "podfleet machines serve --json   # one line: {url, app, tokenFile}",
      ]) +
        "\nOrchestrators then run with FLY_API_URL=<url> FLY_API_TOKEN=$(cat <token-file>) FLY_APP=<app>\n" +
        "PODFLEET_WORKER_IMAGE=<any name> NATS_URL=<a NATS the workers reach>. Workers get PATH, HOME, TMPDIR, LANG,\n" +
        "PODFLEET_MODELS_DIR and the variables PODFLEET_LOCAL_MACHINE_ENV names from this command's environment.\n",
    )
    .action(
      action(
        () => import("../machines-serve-command.ts"),
        (m, ctx) => m.machinesServe(ctx),
        bounded({ port: "LISTEN_PORT" }),
      ),
    );
}

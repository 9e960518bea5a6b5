/** `podfleet nats permissions`: the users block for an operator's own nats-server. Implementation: cli/nats-command.ts. */
import type { Command } from "commander";
import { action, examples } from "../command-action.ts";

export function registerNats(program: Command): void {
  const nats = program.command("nats").description("helpers for running your own NATS");
  nats
    .command("permissions")
    .description("the nats-server users block for your own NATS (worker permissions)")
    .option("--prefix <prefix>", "subject prefix (default PODFLEET_NATS_PREFIX)")
    .addHelpText("after", examples(["podfleet nats permissions --prefix acme >> nats.conf"]))
    .action(
      action(
        () => import("../nats-command.ts"),
        (m, ctx) => m.natsPermissions(ctx),
      ),
    );
}

/** `podfleet tokens create|list|revoke`: admin API tokens. Implementation: cli/tokens-command.ts. */
import type { Command } from "commander";
import { action, examples } from "../command-action.ts";

const load = () => import("../tokens-command.ts");

export function registerTokens(program: Command): void {
  const tokens = program.command("tokens").description("admin API tokens: create, list, revoke");
  tokens
    .command("create")
    .description("create an admin API token (printed once)")
    .argument("<name>", "a name to recognise it by")
    .addHelpText("after", examples(["podfleet tokens create laptop", "podfleet tokens create ci --json"]))
    .action(action(load, (m, ctx, [name]) => m.createToken(ctx, name!)));
  tokens
    .command("list")
    .description("list tokens (never their value; read-only)")
    .addHelpText("after", examples(["podfleet tokens list"]))
    .action(action(load, (m, ctx) => m.listTokens(ctx)));
  tokens
    .command("revoke")
    .description("revoke a token")
    .argument("<id>", "token id (tok_…)")
    .addHelpText("after", examples(["podfleet tokens revoke tok_0123abcd --json"]))
    .action(action(load, (m, ctx, [id]) => m.revokeToken(ctx, id!)));
}

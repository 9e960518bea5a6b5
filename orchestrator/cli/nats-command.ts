/** `podfleet nats permissions [--prefix P]`: the nats-server users block for an operator's own NATS. */
import { wireNames } from "../../contract/wire.ts";
import { parseConfig } from "../config.ts";
import { operatorAuthorizationSnippet } from "../queue/nats-credentials.ts";
import { CliError, EXIT } from "./cli-error.ts";
import type { CommandContext } from "./command-action.ts";
import { writeJson } from "./terminal-text.ts";

export function natsPermissions(ctx: CommandContext): number {
  const prefix = (ctx.flags.prefix as string | undefined) ?? parseConfig(ctx.env).nats.prefix;
  let names;
  try {
    names = wireNames(prefix);
  } catch (err) {
    throw new CliError(`--prefix: ${(err as Error).message}`, EXIT.usage);
  }
  const snippet = operatorAuthorizationSnippet(names);
  if (ctx.json) writeJson({ prefix, snippet });
  else process.stdout.write(snippet);
  return 0;
}

/**
 * `podfleet tokens create NAME [--json]`, `podfleet tokens list [--json]`, `podfleet tokens revoke ID`:
 * admin API bearer tokens. A created token is printed once; the orchestrator keeps only its hash.
 * Talks to the HTTP API through ApiClient (so it needs a token itself); `main.ts` dispatches here.
 */
import type { TokenInfo } from "../auth/token-store.ts";
import { CliError } from "./cli-error.ts";
import { parseCommandArgs } from "./cli-args.ts";
import { table } from "./table.ts";
import { writeHuman, writeJson } from "./terminal-text.ts";
import { openTarget } from "./target.ts";

export const TOKENS_USAGE = `  tokens create NAME [--json]                create an admin API token (printed once)
  tokens list [--json] | tokens revoke ID    list tokens (never their value) | revoke one`;

export async function tokensCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandArgs(argv, { json: { type: "boolean", default: false }, "data-dir": { type: "string" } } as const);
  const { values, positionals } = parsed;
  const [sub, arg] = positionals;
  if (!["create", "list", "revoke"].includes(sub ?? "")) throw new CliError(`unknown tokens command "${sub ?? ""}" (create, list, revoke)`, 2);
  if (sub !== "list" && !arg) throw new CliError(`tokens ${sub} needs ${sub === "create" ? "a NAME" : "a token ID"}`, 2);
  const out = writeHuman;
  const target = await openTarget(env, values["data-dir"]);
  try {
    if (sub === "create") {
      const t = await target.api.post<{ id: string; name: string; token: string }>("/v1/tokens", { name: arg });
      if (values.json) writeJson(t);
      else out(`token ${t.name} (${t.id}):\n  ${t.token}\n  (shown once; use it as PODFLEET_TOKEN or Authorization: Bearer)\n`);
      return 0;
    }
    if (sub === "revoke") {
      await target.api.delete(`/v1/tokens/${encodeURIComponent(arg!)}`);
      out(`revoked ${arg}\n`);
      return 0;
    }
    const { tokens } = await target.api.get<{ tokens: TokenInfo[] }>("/v1/tokens");
    if (values.json) writeJson(tokens);
    else out(table(["ID", "NAME", "CREATED", "LAST USED", "REVOKED"], tokens.map((t) => [t.id, t.name, t.createdAt, t.lastUsedAt ?? "-", t.revokedAt ?? "-"])));
    return 0;
  } finally {
    await target.close();
  }
}

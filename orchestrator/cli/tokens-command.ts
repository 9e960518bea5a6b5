/**
 * `podfleet tokens create NAME`, `tokens list`, `tokens revoke ID`: admin API bearer tokens. A
 * created token is printed once; the orchestrator keeps only its hash. Talks to the HTTP API
 * through ApiClient (so it needs a token itself). `tokens list` never starts an orchestrator.
 */
import type { TokenInfo } from "../auth/token-store.ts";
import type { CommandContext } from "./command-action.ts";
import { table } from "./table.ts";
import { writeHuman, writeJson } from "./terminal-text.ts";
import { openTarget, requireRunning, withTarget } from "./target.ts";

export async function createToken(ctx: CommandContext, name: string): Promise<number> {
  return withTarget(await openTarget(ctx), async ({ api }) => {
    const t = await api.post<{ id: string; name: string; token: string }>("/v1/tokens", { name });
    if (ctx.json) writeJson(t);
    else writeHuman(`token ${t.name} (${t.id}):\n  ${t.token}\n  (shown once; use it as PODFLEET_TOKEN or Authorization: Bearer)\n`);
  });
}

export async function revokeToken(ctx: CommandContext, id: string): Promise<number> {
  return withTarget(await openTarget(ctx), async ({ api }) => {
    await api.delete(`/v1/tokens/${encodeURIComponent(id)}`);
    if (ctx.json) writeJson({ id, revoked: true });
    else writeHuman(`revoked ${id}\n`);
  });
}

export async function listTokens(ctx: CommandContext): Promise<number> {
  return withTarget(await requireRunning(ctx), async ({ api }) => {
    const { tokens } = await api.get<{ tokens: TokenInfo[] }>("/v1/tokens");
    if (ctx.json) writeJson(tokens);
    else
      writeHuman(
        table(
          ["ID", "NAME", "CREATED", "LAST USED", "REVOKED"],
          tokens.map((t) => [t.id, t.name, t.createdAt, t.lastUsedAt ?? "-", t.revokedAt ?? "-"]),
        ),
      );
  });
}

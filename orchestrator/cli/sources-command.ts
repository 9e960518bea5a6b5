/**
 * `podfleet sources add NAME --scheme standard|svix|github|token [--feed URL] [--callback-url URL]`,
 * `sources list`, `sources remove ID|NAME`, and `sources callback-secret` (the secret that signs
 * completion callbacks). Talks to the HTTP API through ApiClient; `sources list` never starts an
 * orchestrator.
 */
import type { CommandContext } from "./command-action.ts";
import { table } from "./table.ts";
import { writeHuman, writeJson } from "./terminal-text.ts";
import { openTarget, requireRunning, withTarget } from "./target.ts";

interface SourceView {
  id: string;
  name: string;
  scheme: string;
  url: string;
  feedUrl: string | null;
  callbackUrl: string | null;
  createdAt: string;
  secret?: string | null;
}

export async function addSource(ctx: CommandContext, name: string): Promise<number> {
  const f = ctx.flags as { scheme?: string; feed?: string; "callback-url"?: string };
  return withTarget(await openTarget(ctx), async ({ api }) => {
    const s = await api.post<SourceView>("/v1/sources", {
      name,
      scheme: f.scheme,
      ...(f.feed ? { feedUrl: f.feed } : {}),
      ...(f["callback-url"] ? { callbackUrl: f["callback-url"] } : {}),
    });
    if (ctx.json) writeJson({ id: s.id, url: s.url, secret: s.secret ?? null });
    else {
      writeHuman(`source ${s.name} (${s.id}), scheme ${s.scheme}\n  endpoint: POST ${s.url}\n`);
      writeHuman(
        s.secret
          ? `  secret:   ${s.secret}\n  (shown once; store it in the host's webhook settings)\n`
          : "  the URL is the secret: keep it private\n",
      );
    }
  });
}

export async function listSources(ctx: CommandContext): Promise<number> {
  return withTarget(await requireRunning(ctx), async ({ api }) => {
    const { sources } = await api.get<{ sources: SourceView[] }>("/v1/sources");
    if (ctx.json) writeJson(sources, 2);
    else
      writeHuman(
        table(
          ["ID", "NAME", "SCHEME", "FEED", "URL"],
          sources.map((s) => [s.id, s.name, s.scheme, s.feedUrl ?? "", s.url]),
        ),
      );
  });
}

export async function removeSource(ctx: CommandContext, idOrName: string): Promise<number> {
  return withTarget(await openTarget(ctx), async ({ api }) => {
    await api.delete(`/v1/sources/${encodeURIComponent(idOrName)}`);
    if (ctx.json) writeJson({ id: idOrName, removed: true });
    else writeHuman(`removed ${idOrName}\n`);
  });
}

export async function callbackSecret(ctx: CommandContext): Promise<number> {
  return withTarget(await openTarget(ctx), async ({ api }) => {
    const { secret } = await api.get<{ secret: string }>("/v1/callbacks/signing-secret");
    if (ctx.json) writeJson({ secret });
    else writeHuman(`${secret}\n`);
  });
}

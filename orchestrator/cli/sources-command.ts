/**
 * `podfleet sources add NAME --scheme standard|svix|github|token [--feed URL] [--callback-url URL] [--json]`,
 * `podfleet sources list [--json]`, `podfleet sources remove ID|NAME`, and
 * `podfleet sources callback-secret` (the secret that signs completion callbacks).
 * Talks to the HTTP API through ApiClient; `main.ts` dispatches here.
 */
import { CliError } from "./cli-error.ts";
import { parseCommandArgs } from "./cli-args.ts";
import { table } from "./table.ts";
import { writeHuman, writeJson } from "./terminal-text.ts";
import { openTarget } from "./target.ts";

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

export const SOURCES_USAGE = `  sources add NAME --scheme standard|svix|github|token [--feed URL] [--callback-url URL] [--json]
                                             register a webhook source; prints its URL and secret
  sources list [--json] | sources remove ID|NAME | sources callback-secret`;

export async function sourcesCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandArgs(argv, {
    scheme: { type: "string" },
    feed: { type: "string" },
    "callback-url": { type: "string" },
    json: { type: "boolean", default: false },
    "data-dir": { type: "string" },
  } as const);
  const { values, positionals } = parsed;
  const [sub, arg] = positionals;
  if (sub === "add" && !arg) throw new CliError("sources add needs a NAME", 2);
  if (sub === "add" && !values.scheme) throw new CliError("sources add needs --scheme standard|svix|github|token", 2);
  if (sub === "remove" && !arg) throw new CliError("sources remove needs an ID or NAME", 2);
  if (!["add", "list", "remove", "callback-secret"].includes(sub ?? "")) {
    throw new CliError(`unknown sources command "${sub ?? ""}" (add, list, remove, callback-secret)`, 2);
  }
  const out = writeHuman;
  const target = await openTarget(env, values["data-dir"]);
  try {
    switch (sub) {
      case "add": {
        const s = await target.api.post<SourceView>("/v1/sources", {
          name: arg,
          scheme: values.scheme,
          ...(values.feed ? { feedUrl: values.feed } : {}),
          ...(values["callback-url"] ? { callbackUrl: values["callback-url"] } : {}),
        });
        if (values.json) writeJson({ id: s.id, url: s.url, secret: s.secret ?? null });
        else {
          out(`source ${s.name} (${s.id}), scheme ${s.scheme}\n  endpoint: POST ${s.url}\n`);
          out(s.secret ? `  secret:   ${s.secret}\n  (shown once; store it in the host's webhook settings)\n` : "  the URL is the secret: keep it private\n");
        }
        return 0;
      }
      case "list": {
        const { sources } = await target.api.get<{ sources: SourceView[] }>("/v1/sources");
        if (values.json) writeJson(sources, 2);
        else out(table(["ID", "NAME", "SCHEME", "FEED", "URL"], sources.map((s) => [s.id, s.name, s.scheme, s.feedUrl ?? "", s.url])));
        return 0;
      }
      case "remove": {
        await target.api.delete(`/v1/sources/${encodeURIComponent(arg!)}`);
        out(`removed ${arg}\n`);
        return 0;
      }
      default: {
        const { secret } = await target.api.get<{ secret: string }>("/v1/callbacks/signing-secret");
        if (values.json) writeJson({ secret });
        else out(`${secret}\n`);
        return 0;
      }
    }
  } finally {
    await target.close();
  }
}

/**
 * The `podfleet` command line: parses arguments, runs one command, and maps failure to a non-zero
 * exit code with one readable line on stderr.
 */
import { ConfigError, parseConfig } from "../config.ts";
import { adminTokenHint } from "../dashboard/dashboard-deps.ts";
import type { EpisodeView } from "../episodes/episode-service.ts";
import { createLogger } from "../log.ts";
import { installLastResortHandler } from "../last-resort-handler.ts";
import { DataDirLockedError, startOrchestrator } from "../orchestrator.ts";
import { ApiClientError } from "./api-client.ts";
import { boundedFlag, parseCommandArgs } from "./cli-args.ts";
import { CHUNK_SECONDS, LISTEN_PORT } from "../input-bounds.ts";
import { CliError } from "./cli-error.ts";
import { table } from "./table.ts";
import { safeInline, writeHuman, writeJson } from "./terminal-text.ts";
import { openTarget } from "./target.ts";
import { transcribe } from "./transcribe.ts";
import { fetchDeliveries, formatDeliveries } from "./deliveries-view.ts";
import { FEEDS_USAGE, feedsCommand } from "./feeds-command.ts";
import { SOURCES_USAGE, sourcesCommand } from "./sources-command.ts";
import { FLEET_USAGE, fleetCommand } from "./fleet-command.ts";
import { TOKENS_USAGE, tokensCommand } from "./tokens-command.ts";
import { MODELS_USAGE, modelsCommand } from "./models-command.ts";
import { wireNames } from "../../contract/wire.ts";
import { operatorAuthorizationSnippet } from "../queue/nats-credentials.ts";

const USAGE = `usage: podfleet <command> [options]

  up [--port N] [--data-dir DIR]             run the orchestrator and its embedded stack
  transcribe <url-or-path> --out DIR         transcribe one episode and write transcript.{txt,srt,vtt,json}
      [--chunk-seconds N] [--title T] [--json] [--data-dir DIR]
  jobs list [--json]                         recent episodes
  jobs show ID [--json]                      one episode
  jobs cancel ID | jobs retry ID             cancel an unfinished episode | re-run a failed one's dead chunks (or download it again)
${TOKENS_USAGE}
${FLEET_USAGE}
${MODELS_USAGE}
  nats permissions [--prefix P]              the nats-server users block for your own NATS (worker permissions)
${SOURCES_USAGE}
${FEEDS_USAGE}

Commands talk to the orchestrator at PODFLEET_URL; without it they use the data directory's
running orchestrator, or start an embedded one for the length of the command.`;

const OPTIONS = {
  port: { type: "string" },
  "data-dir": { type: "string" },
  out: { type: "string" },
  "chunk-seconds": { type: "string" },
  title: { type: "string" },
  prefix: { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

/** `jobs show`'s download line: failed attempts, and the next try or the last reason. */
function describeDownload(d: EpisodeView["download"]): string {
  const tries = `${d.attempts} failed ${d.attempts === 1 ? "attempt" : "attempts"}`;
  if (d.nextAttemptAt) return `${tries}; waiting to retry at ${d.nextAttemptAt} (${d.lastError ?? "transient error"})`;
  return `${tries}${d.lastError ? `; last: ${d.lastError}` : ""}`;
}

async function run(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  // These parse their own flags (ingest and delivery: cli/sources-command.ts, cli/feeds-command.ts).
  if (argv[0] === "sources" && !argv.includes("--help") && !argv.includes("-h")) return sourcesCommand(argv.slice(1), env);
  if (argv[0] === "tokens" && !argv.includes("--help") && !argv.includes("-h")) return tokensCommand(argv.slice(1), env);
  if (argv[0] === "feeds" && !argv.includes("--help") && !argv.includes("-h")) return feedsCommand(argv.slice(1), env);
  if ((argv[0] === "fleet" || argv[0] === "machines") && !argv.includes("--help") && !argv.includes("-h")) return fleetCommand(argv[0], argv.slice(1), env);
  if (argv[0] === "models" && !argv.includes("--help") && !argv.includes("-h")) return modelsCommand(argv.slice(1), env);
  const parsed = parseCommandArgs(argv, OPTIONS);
  const { values, positionals } = parsed;
  const [command, sub, arg] = positionals;
  const dataDir = values["data-dir"];
  if (values.help || !command) {
    process.stdout.write(USAGE + "\n");
    return command || values.help ? 0 : 2;
  }
  const print = (obj: unknown) => writeJson(obj, values.json ? 2 : 0);

  switch (command) {
    case "up": {
      const port = boundedFlag("port", values.port, LISTEN_PORT);
      const config = parseConfig(env, { dataDir, port });
      const log = createLogger(config.logLevel, { component: "orchestrator" });
      // What no item boundary caught is logged and survived; a burst of it stops the service (see last-resort-handler.ts).
      let broken: ((summary: string) => void) | undefined;
      const uninstall = installLastResortHandler({ log, onTooMany: (summary) => broken?.(summary) });
      try {
        const orchestrator = await startOrchestrator(config, log);
        process.stderr.write(`podfleet orchestrator on ${orchestrator.url} (data: ${config.dataDir}); Ctrl-C to stop\n`);
        process.stderr.write(`podfleet dashboard: ${orchestrator.url}/ (sign in with ${adminTokenHint(config)})\n`);
        const exitCode = await new Promise<number>((resolve) => {
          process.once("SIGINT", () => resolve(0));
          process.once("SIGTERM", () => resolve(0));
          broken = (summary) => {
            process.stderr.write(`podfleet: stopping, too many unexpected errors: ${summary}\n`);
            resolve(70);
          };
        });
        process.stderr.write("podfleet: shutting down\n");
        await orchestrator.close();
        return exitCode;
      } finally {
        uninstall();
      }
    }
    case "transcribe": {
      if (!sub) throw new CliError("transcribe needs a URL or a file path (see podfleet --help)", 2);
      if (!values.out) throw new CliError("transcribe needs --out DIR", 2);
      const summary = await transcribe(
        {
          input: sub,
          outDir: values.out,
          chunkSeconds: boundedFlag("chunk-seconds", values["chunk-seconds"], CHUNK_SECONDS),
          title: values.title,
          json: values.json,
          dataDir,
        },
        env,
      );
      if (values.json) writeJson(summary);
      else {
        writeHuman(
          `transcribed ${summary.durationSec?.toFixed(1) ?? "?"} s of audio in ${(summary.wallMs / 1000).toFixed(1)} s ` +
            `(${summary.chunks} chunks); transcript written to ${summary.files.txt.replace(/transcript\.txt$/, "")}transcript.{txt,srt,vtt,json}\n`,
        );
      }
      return 0;
    }
    case "jobs": {
      const target = await openTarget(env, dataDir);
      try {
        if (sub === "list") {
          const { episodes } = await target.api.get<{ episodes: EpisodeView[] }>("/v1/episodes");
          if (values.json) print(episodes);
          else
            writeHuman(
              table(
                ["ID", "STATUS", "CHUNKS", "DURATION", "CREATED", "TITLE"],
                episodes.map((e) => [e.id, e.status, `${e.chunks.done}/${e.chunks.total}`, e.durationSec?.toFixed(0) ?? "-", e.timings.createdAt, e.title ?? ""]),
              ),
            );
          return 0;
        }
        if (sub === "show") {
          if (!arg) throw new CliError("jobs show needs an episode ID", 2);
          const view = await target.api.get<EpisodeView>(`/v1/episodes/${encodeURIComponent(arg)}`);
          const deliveries = await fetchDeliveries(target.api, arg);
          if (values.json) print({ ...view, deliveries });
          else {
            const rows: Array<[string, string]> = [
              ["id", view.id],
              ["title", view.title ?? ""],
              ["status", view.status],
              ["error", view.error ?? ""],
              ...(view.download && view.download.attempts > 0 ? [["download", describeDownload(view.download)] as [string, string]] : []),
              ["source", view.source.url ?? view.source.kind],
              ["duration", view.durationSec === null ? "-" : `${view.durationSec.toFixed(1)} s`],
              ...(view.waiting ? ([["waiting", view.waiting.detail]] as Array<[string, string]>) : []),
              ["chunks", `${view.chunks.done} done, ${view.chunks.leased} running, ${view.chunks.queued} queued, ${view.chunks.failed} failed${view.chunks.cancelled ? `, ${view.chunks.cancelled} cancelled` : ""} of ${view.chunks.total}`],
              ["created", view.timings.createdAt],
              ["finished", view.timings.finishedAt ?? "-"],
            ];
            // one line per field: a newline inside a title must not forge another field
            writeHuman(rows.map(([k, v]) => `${k.padEnd(10)} ${safeInline(v)}`).join("\n") + "\n");
            writeHuman(formatDeliveries(deliveries));
          }
          return 0;
        }
        if (sub === "cancel" || sub === "retry") {
          if (!arg) throw new CliError(`jobs ${sub} needs an episode ID`, 2);
          const path = `/v1/episodes/${encodeURIComponent(arg)}`;
          type Retried = EpisodeView & { requeuedChunks?: number; redownload?: boolean };
          const view = sub === "cancel" ? await target.api.delete<Retried>(path) : await target.api.post<Retried>(`${path}/retry`, {});
          if (values.json) print(view);
          else if (sub === "cancel") writeHuman(`cancelled ${view.id}\n`);
          else if (view.redownload) writeHuman(`retrying ${view.id}: downloading ${view.source.url ?? "it"} again, status ${view.status}\n`);
          else writeHuman(`retrying ${view.id}: ${view.requeuedChunks ?? 0} chunk(s) queued again, status ${view.status}\n`);
          return 0;
        }
        throw new CliError(`unknown jobs command "${sub ?? ""}" (list, show, cancel, retry)`, 2);
      } finally {
        await target.close();
      }
    }
    case "nats": {
      if (sub !== "permissions") throw new CliError(`unknown nats command "${sub ?? ""}" (permissions)`, 2);
      const prefix = values.prefix ?? parseConfig(env).nats.prefix;
      let names;
      try {
        names = wireNames(prefix);
      } catch (err) {
        throw new CliError(`--prefix: ${(err as Error).message}`, 2);
      }
      process.stdout.write(operatorAuthorizationSnippet(names));
      return 0;
    }
    default:
      throw new CliError(`unknown command "${command}" (see podfleet --help)`, 2);
  }
}

export async function main(argv = process.argv.slice(2), env = process.env): Promise<number> {
  try {
    return await run(argv, env);
  } catch (err) {
    const known = err instanceof CliError || err instanceof ConfigError || err instanceof ApiClientError || err instanceof DataDirLockedError;
    const message = known ? err.message : `unexpected error: ${(err as Error).message ?? String(err)}`;
    writeHuman(`podfleet: ${safeInline(message.split("\n")[0] ?? "")}\n`, process.stderr);
    return err instanceof CliError ? err.exitCode : 1;
  }
}

process.exitCode = await main();

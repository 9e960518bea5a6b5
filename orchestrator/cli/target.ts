/**
 * Where CLI commands send their requests: the orchestrator at PODFLEET_URL; else the one already
 * running on the data directory (`podfleet up`); else, for commands that change things, an
 * embedded orchestrator started for the length of the command. Read-only commands never start
 * one (see `findRunning`). The admin token is PODFLEET_TOKEN, else `<data-dir>/admin-token`
 * (data directory: --data-dir, PODFLEET_DATA_DIR, or ./.podfleet), so a local user never copies it.
 *
 * Every command says which orchestrator it talks to (one stderr line; not with --json), and warns
 * when a PODFLEET_* variable set on its command line differs from the running orchestrator's:
 * variables take effect where the orchestrator starts, not where a command runs.
 */
import fs from "node:fs";
import path from "node:path";
import { parseConfig, launchSettings } from "../config.ts";
import { runningOrchestratorUrl, secureDataDir } from "../data-dir.ts";
import { createLogger } from "../log.ts";
import type { Orchestrator } from "../orchestrator.ts";
import { readAdminTokenFile } from "../auth/token-store.ts";
import type { SettingsView } from "../http/settings-routes.ts";
import { ApiClient, ApiClientError } from "./api-client.ts";
import { CliError, EXIT } from "./cli-error.ts";
import type { CommandContext } from "./command-action.ts";
import { safeInline, writeHuman } from "./terminal-text.ts";

export interface Target {
  api: ApiClient;
  /** Which orchestrator: its URL, its data directory (when known), and how this command reached it. */
  where: { url: string; dataDir: string | undefined; kind: "remote" | "up" | "embedded"; engine?: string | undefined };
  /** Present when this command runs its own embedded orchestrator. */
  embedded: Orchestrator | undefined;
  close(): Promise<void>;
}

/** Variables the CLI itself reads (where to connect, which token, models host); never compared. */
const CLIENT_SIDE = new Set(["PODFLEET_URL", "PODFLEET_TOKEN", "PODFLEET_DATA_DIR", "PODFLEET_MODELS_URL", "PODFLEET_MODELS_DIR"]);

/** The data directory a command on this machine uses (--data-dir, PODFLEET_DATA_DIR, ./.podfleet). */
export function localDataDir(ctx: Pick<CommandContext, "env" | "dataDir">): string {
  return path.resolve(ctx.dataDir ?? ctx.env.PODFLEET_DATA_DIR ?? ".podfleet");
}

function note(ctx: CommandContext, line: string): void {
  if (!ctx.json) writeHuman(`podfleet: note: ${safeInline(line)}\n`, process.stderr);
}

/** Differences between this command's PODFLEET_* variables and those the orchestrator runs with. */
export function settingsDrift(
  mine: Record<string, string>,
  theirs: Record<string, string>,
): Array<{ name: string; here: string; there: string | null }> {
  return Object.entries(mine)
    .filter(([name, value]) => !CLIENT_SIDE.has(name) && theirs[name] !== value)
    .map(([name, here]) => ({ name, here, there: theirs[name] ?? null }));
}

async function warnDrift(ctx: CommandContext, api: ApiClient): Promise<SettingsView | undefined> {
  let view: SettingsView;
  try {
    view = await api.get<SettingsView>("/v1/admin/settings");
  } catch (err) {
    if (err instanceof ApiClientError && err.status === 404) return undefined; // an orchestrator from before this route
    throw err;
  }
  for (const d of settingsDrift(launchSettings(ctx.env), view.settings)) {
    // a warning on stderr even with --json: it explains a refusal the command may be about to print
    writeHuman(
      `podfleet: warning: ${d.name}=${d.here} is set here, but the running orchestrator has ${d.there === null ? "it unset" : `${d.name}=${d.there}`}; ` +
        `it applies only where the orchestrator starts: set it for \`podfleet up\` and restart it\n`,
      process.stderr,
    );
  }
  return view;
}

/** The orchestrator at PODFLEET_URL or the one running on the data directory; undefined when there is none. */
export async function findRunning(ctx: CommandContext): Promise<Target | undefined> {
  const localDir = localDataDir(ctx);
  const token = () => ctx.env.PODFLEET_TOKEN || readAdminTokenFile(localDir);
  const remote = ctx.env.PODFLEET_URL;
  const url = remote || runningOrchestratorUrl(localDir);
  if (!url) return undefined;
  const api = new ApiClient(url, token());
  const settings = await warnDrift(ctx, api);
  const dataDir = settings?.dataDir ?? (remote ? undefined : localDir);
  note(ctx, `orchestrator ${url}${dataDir ? ` (data dir ${dataDir})` : ""}${remote ? " from PODFLEET_URL" : ", run by podfleet up"}`);
  return { api, where: { url, dataDir, kind: remote ? "remote" : "up", engine: settings?.engine }, embedded: undefined, close: async () => {} };
}

/** For read-only commands: the running orchestrator, or exit 3 saying that none is running. */
export async function requireRunning(ctx: CommandContext): Promise<Target> {
  const found = await findRunning(ctx);
  if (found) return found;
  const dir = localDataDir(ctx);
  throw new CliError(
    `no orchestrator is running on ${dir} (start one with \`podfleet up\`, or set PODFLEET_URL)`,
    EXIT.noOrchestrator,
    "not_running",
    { dataDir: dir },
  );
}

/** For commands that change things: the running orchestrator, else an embedded one for the length of the command. */
export async function openTarget(ctx: CommandContext): Promise<Target> {
  const found = await findRunning(ctx);
  if (found) return found;
  const config = parseConfig(ctx.env, { dataDir: ctx.dataDir, port: 0, host: "127.0.0.1" });
  const tightened = secureDataDir(config.dataDir); // umask 077 before the log file is made
  const logDir = path.join(config.dataDir, "logs");
  fs.mkdirSync(logDir, { recursive: true, mode: 0o700 });
  // The terminal belongs to the command's own output; the embedded orchestrator logs to a file.
  const logFile = fs.openSync(path.join(logDir, "orchestrator.log"), "a", 0o600);
  const log = createLogger(config.logLevel, { component: "orchestrator" }, (line) => fs.writeSync(logFile, line + "\n"));
  if (tightened > 0)
    log.warn("the data directory was readable by other users: tightened to owner-only", { dataDir: config.dataDir, entries: tightened });
  note(ctx, `no orchestrator running on ${config.dataDir}: starting an embedded one for this command (logs in ${logDir})`);
  let orchestrator: Orchestrator;
  try {
    // the whole orchestrator loads only here: commands that talk to a running one never load it
    const { startOrchestrator } = await import("../orchestrator.ts");
    orchestrator = await startOrchestrator(config, log);
  } catch (err) {
    fs.closeSync(logFile);
    throw err;
  }
  // Ctrl-C during the command must still stop nats-server and the worker processes it started.
  const onSignal = (signal: NodeJS.Signals) => {
    process.stderr.write(`\npodfleet: ${signal}, stopping the embedded stack\n`);
    void orchestrator.close().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    api: new ApiClient(orchestrator.url, orchestrator.adminToken),
    where: { url: orchestrator.url, dataDir: config.dataDir, kind: "embedded", engine: config.engine },
    embedded: orchestrator,
    close: async () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await orchestrator.close();
      fs.closeSync(logFile);
    },
  };
}

/** Runs `fn` with the target and closes it (stopping an embedded orchestrator) however `fn` ends; exit code 0. */
export async function withTarget(target: Target, fn: (t: Target) => Promise<void>): Promise<number> {
  try {
    await fn(target);
    return 0;
  } finally {
    await target.close();
  }
}

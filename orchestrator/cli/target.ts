/**
 * Where CLI commands send their requests: the orchestrator at PODFLEET_URL; else the one already
 * running on the data directory (`podfleet up`); else an embedded orchestrator started for the
 * length of the command. The admin token is PODFLEET_TOKEN, else `<data-dir>/admin-token` (data
 * directory: --data-dir, PODFLEET_DATA_DIR, or ./.podfleet), so a local user never copies it.
 */
import fs from "node:fs";
import path from "node:path";
import { parseConfig } from "../config.ts";
import { secureDataDir } from "../data-dir.ts";
import { createLogger } from "../log.ts";
import { runningOrchestratorUrl, startOrchestrator, type Orchestrator } from "../orchestrator.ts";
import { readAdminTokenFile } from "../auth/token-store.ts";
import { ApiClient } from "./api-client.ts";

export interface Target {
  api: ApiClient;
  /** Present when this command runs its own embedded orchestrator. */
  embedded: Orchestrator | undefined;
  close(): Promise<void>;
}

export async function openTarget(env: NodeJS.ProcessEnv, dataDir: string | undefined): Promise<Target> {
  const remote = env.PODFLEET_URL;
  const localDir = path.resolve(dataDir ?? env.PODFLEET_DATA_DIR ?? ".podfleet");
  const token = () => env.PODFLEET_TOKEN || readAdminTokenFile(localDir);
  if (remote) {
    return { api: new ApiClient(remote, token()), embedded: undefined, close: async () => {} };
  }
  const config = parseConfig(env, { dataDir, port: 0, host: "127.0.0.1" });
  const running = runningOrchestratorUrl(config.dataDir);
  if (running) return { api: new ApiClient(running, token()), embedded: undefined, close: async () => {} };
  const tightened = secureDataDir(config.dataDir); // umask 077 before the log file is made
  fs.mkdirSync(path.join(config.dataDir, "logs"), { recursive: true, mode: 0o700 });
  // The terminal belongs to the command's own output; the embedded orchestrator logs to a file.
  const logFile = fs.openSync(path.join(config.dataDir, "logs", "orchestrator.log"), "a", 0o600);
  const log = createLogger(config.logLevel, { component: "orchestrator" }, (line) => fs.writeSync(logFile, line + "\n"));
  if (tightened > 0) log.warn("the data directory was readable by other users: tightened to owner-only", { dataDir: config.dataDir, entries: tightened });
  let orchestrator: Orchestrator;
  try {
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
    embedded: orchestrator,
    close: async () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await orchestrator.close();
      fs.closeSync(logFile);
    },
  };
}

/**
 * Where CLI commands send their requests: the orchestrator at PODFLEET_URL, or, when none is set,
 * an embedded orchestrator started for the length of the command on the data directory.
 */
import fs from "node:fs";
import path from "node:path";
import { parseConfig } from "../config.ts";
import { createLogger } from "../log.ts";
import { startOrchestrator, type Orchestrator } from "../orchestrator.ts";
import { ApiClient } from "./api-client.ts";

export interface Target {
  api: ApiClient;
  /** Present when this command runs its own embedded orchestrator. */
  embedded: Orchestrator | undefined;
  close(): Promise<void>;
}

export async function openTarget(env: NodeJS.ProcessEnv, dataDir: string | undefined): Promise<Target> {
  const remote = env.PODFLEET_URL;
  if (remote) {
    return { api: new ApiClient(remote, env.PODFLEET_TOKEN), embedded: undefined, close: async () => {} };
  }
  const config = parseConfig(env, { dataDir, port: 0, host: "127.0.0.1" });
  fs.mkdirSync(path.join(config.dataDir, "logs"), { recursive: true });
  // The terminal belongs to the command's own output; the embedded orchestrator logs to a file.
  const logFile = fs.openSync(path.join(config.dataDir, "logs", "orchestrator.log"), "a");
  const log = createLogger(config.logLevel, { component: "orchestrator" }, (line) => fs.writeSync(logFile, line + "\n"));
  let orchestrator: Orchestrator;
  try {
    orchestrator = await startOrchestrator(config, log);
  } catch (err) {
    fs.closeSync(logFile);
    throw err;
  }
  return {
    api: new ApiClient(orchestrator.url),
    embedded: orchestrator,
    close: async () => {
      await orchestrator.close();
      fs.closeSync(logFile);
    },
  };
}

/**
 * Rewrites README.md's HTTP API table from the routes: starts an orchestrator on a throwaway data
 * directory (no machines), reads its OpenAPI document in process, and replaces the text between
 * the api-table markers. `npm run api:readme`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseConfig } from "../orchestrator/config.ts";
import type { ApiDocument } from "../orchestrator/http/api-reference.ts";
import { apiTable, withApiTable } from "../orchestrator/http/api-table.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator } from "../orchestrator/orchestrator.ts";

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-api-readme-"));
  try {
    const config = parseConfig(
      { PODFLEET_MAX_MACHINES: "0", PODFLEET_NATS_PREFIX: "apireadme", PODFLEET_LOG_LEVEL: "silent" },
      { dataDir: path.join(dir, "data"), port: 0, host: "127.0.0.1" },
    );
    const orch = await startOrchestrator(config, createLogger("silent"));
    let doc: ApiDocument;
    try {
      doc = (await (await orch.api.app.request("/openapi.json")).json()) as ApiDocument;
    } finally {
      await orch.close();
    }
    const readmePath = new URL("../README.md", import.meta.url);
    const before = fs.readFileSync(readmePath, "utf8");
    const after = withApiTable(before, apiTable(doc));
    fs.writeFileSync(readmePath, after);
    console.log(before === after ? "README.md: API table already up to date" : "README.md: API table rewritten from the routes");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(`api-readme: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

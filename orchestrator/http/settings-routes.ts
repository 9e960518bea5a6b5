/**
 * `GET /v1/admin/settings` (admin token): which orchestrator this is (data directory, machines,
 * engine) and the PODFLEET_* variables it was started with, secrets as "(set)". CLI commands read
 * it to say which orchestrator they talk to and to warn when a variable set on the command line
 * differs from the running orchestrator's (a variable only takes effect where the orchestrator starts).
 */
import type { Hono } from "hono";
import type { Config } from "../config.ts";

export interface SettingsView {
  dataDir: string;
  machines: "fly" | "local";
  engine: string;
  pid: number;
  settings: Record<string, string>;
}

export function mountSettingsRoutes(app: Hono, config: Config): void {
  app.get("/v1/admin/settings", (c) =>
    c.json({ dataDir: config.dataDir, machines: config.machines.kind, engine: config.engine, pid: process.pid, settings: config.settings } satisfies SettingsView),
  );
}

/**
 * `GET /v1/admin/settings` (admin token): which orchestrator this is (data directory, machines,
 * engine) and the PODFLEET_* variables it was started with, secrets as "(set)". CLI commands read
 * it to say which orchestrator they talk to and to warn when a variable set on the command line
 * differs from the running orchestrator's (a variable only takes effect where the orchestrator starts).
 */
import type { Config } from "../config.ts";
import { errors, json, route, type ApiRoute } from "./api-route.ts";

export interface SettingsView {
  dataDir: string;
  machines: "fly" | "local";
  engine: string;
  pid: number;
  settings: Record<string, string>;
}

export function settingsRoutes(config: Pick<Config, "dataDir" | "machines" | "engine" | "settings">): ApiRoute[] {
  return [
    route({
      method: "get",
      path: "/v1/admin/settings",
      access: "admin",
      tag: "admin",
      summary: "this orchestrator: data directory, machines, engine, pid, and the PODFLEET_* variables it started with (secrets shown as `(set)`)",
      responses: { 200: json("the settings"), ...errors({ 401: "no live admin token" }) },
      handler: (c) =>
        c.json({
          dataDir: config.dataDir,
          machines: config.machines.kind,
          engine: config.engine,
          pid: process.pid,
          settings: config.settings,
        } satisfies SettingsView),
    }),
  ];
}

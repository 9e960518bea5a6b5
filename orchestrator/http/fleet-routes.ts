/**
 * The fleet on the API app:
 *   GET  /v1/fleet                      limits, machines by state, queue depth, usage, why nothing starts
 *   PUT  /v1/fleet/limits {…}           change any limits (validated; 400 names the bad field); next pass applies them
 *   POST /v1/fleet/reap?dryRun=true     one sweeper pass now; returns what it did (or would do)
 *   GET  /v1/fleet/events?limit=&machine=   machine state changes and fleet actions, newest first
 * (`GET /v1/machines` lives in app.ts and is fed by FleetViews.machines.)
 */
import type { Hono } from "hono";
import type { FleetController } from "../fleet/fleet-controller.ts";
import { InvalidLimitsError, type FleetLimitsStore } from "../fleet/fleet-limits.ts";
import type { FleetViews } from "../fleet/fleet-view.ts";
import type { MachineRegistry } from "../fleet/machine-registry.ts";
import { z } from "zod";
import { boundedQueryNumber, FLEET_EVENTS_LIMIT } from "../input-bounds.ts";
import { ApiError, invalid } from "./app.ts";

const EventsQuery = z.object({ limit: boundedQueryNumber(FLEET_EVENTS_LIMIT).optional() });

export interface FleetRoutesDeps {
  controller: FleetController;
  limits: FleetLimitsStore;
  views: FleetViews;
  registry: MachineRegistry;
  /** Called after limits change, so the next pass runs now rather than on the timer. */
  onLimitsChanged?: () => void;
}

export function mountFleetRoutes(app: Hono, deps: FleetRoutesDeps): void {
  app.get("/v1/fleet", async (c) => c.json(await deps.views.fleet()));

  app.put("/v1/fleet/limits", async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new ApiError(400, "invalid_json", "request body is not valid JSON");
    }
    try {
      const limits = await deps.limits.update(body);
      deps.onLimitsChanged?.();
      return c.json({ limits });
    } catch (err) {
      if (err instanceof InvalidLimitsError) throw new ApiError(400, "invalid_limits", err.message);
      throw err;
    }
  });

  app.post("/v1/fleet/reap", async (c) => {
    const dryRun = ["1", "true", "yes"].includes(c.req.query("dryRun") ?? "");
    const actions = await deps.controller.pass({ sweep: true, scale: false, dryRun });
    return c.json({ dryRun, actions });
  });

  app.get("/v1/fleet/events", async (c) => {
    const query = EventsQuery.safeParse(c.req.query());
    if (!query.success) invalid(query.error);
    const limit = query.data.limit ?? 100;
    const machine = c.req.query("machine");
    const rows = await deps.registry.events(limit, machine || undefined);
    return c.json({ events: rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() })) });
  });
}

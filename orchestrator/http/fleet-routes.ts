/**
 * The fleet on the API app:
 *   GET  /v1/fleet                      limits, machines by state, queue depth, usage, why nothing starts
 *   PUT  /v1/fleet/limits {…}           change any limits (validated; 400 names the bad field); next pass applies them
 *   POST /v1/fleet/reap?dryRun=true     one sweeper pass now; returns what it did (or would do); only the leader acts (409 not_leader elsewhere)
 *   GET  /v1/fleet/events?limit=&machine=   machine state changes and fleet actions, newest first
 *   GET  /v1/machines                   this fleet's worker machines
 */
import { isDeposedError, type Fence } from "../cluster/fence.ts";
import type { FleetController } from "../fleet/fleet-controller.ts";
import { InvalidLimitsError, LimitsPatch, type FleetLimitsStore } from "../fleet/fleet-limits.ts";
import type { FleetViews } from "../fleet/fleet-view.ts";
import type { MachineRegistry } from "../fleet/machine-registry.ts";
import { z } from "zod";
import { boundedQueryNumber, FLEET_EVENTS_LIMIT } from "../input-bounds.ts";
import { ApiError } from "./api-error.ts";
import { errors, json, readJson, route, type ApiRoute } from "./api-route.ts";

const EventsQuery = z.object({ limit: boundedQueryNumber(FLEET_EVENTS_LIMIT).optional(), machine: z.string().optional() });

export interface FleetRoutesDeps {
  controller: FleetController;
  limits: FleetLimitsStore;
  views: FleetViews;
  registry: MachineRegistry;
  /** Called after limits change, so the next pass runs now rather than on the timer. */
  onLimitsChanged?: () => void;
  /** The leader's fence for a reap (throws NotLeaderError elsewhere); absent: reaps run unfenced. */
  fence?: () => Fence;
}

const ADMIN = { 401: "no live admin token" };

export function fleetRoutes(deps: FleetRoutesDeps): ApiRoute[] {
  return [
    route({
      method: "get",
      path: "/v1/fleet",
      access: "admin",
      tag: "fleet",
      summary: "limits, machines by state, queue depth, today's usage and budget, and why nothing starts",
      responses: { 200: json("the fleet"), ...errors(ADMIN) },
      handler: async (c) => c.json(await deps.views.fleet()),
    }),
    route({
      method: "get",
      path: "/v1/machines",
      access: "admin",
      tag: "fleet",
      summary: "this fleet's worker machines: age, state, current chunk",
      responses: { 200: json("the machines"), ...errors(ADMIN) },
      handler: async (c) => c.json({ machines: await deps.views.machines() }),
    }),
    route({
      method: "put",
      path: "/v1/fleet/limits",
      access: "admin",
      tag: "fleet",
      summary: "change any of the limits (validated; `400 invalid_limits` names the field); the next pass applies them",
      // validated by the limits store (invalid_limits), which also checks the merged result
      content: { content: { "application/json": { schema: LimitsPatch } }, required: true },
      responses: { 200: json("the limits now in force"), ...errors({ 400: "bad JSON or a bad limit", ...ADMIN }) },
      handler: async (c) => {
        const body = await readJson(c);
        try {
          const limits = await deps.limits.update(body);
          deps.onLimitsChanged?.();
          return c.json({ limits });
        } catch (err) {
          if (err instanceof InvalidLimitsError) throw new ApiError(400, "invalid_limits", err.message);
          throw err;
        }
      },
    }),
    route({
      method: "post",
      path: "/v1/fleet/reap",
      access: "admin",
      tag: "fleet",
      summary: "one sweeper pass now (`?dryRun=true`: only say what it would do)",
      query: z.object({ dryRun: z.string().optional() }),
      responses: {
        200: json("`{dryRun, actions}`"),
        ...errors({ ...ADMIN, 409: "this orchestrator does not lead (`not_leader`): ask the leader `podfleet fleet show` names" }),
      },
      handler: async (c, { query }) => {
        const dryRun = ["1", "true", "yes"].includes(query.dryRun ?? "");
        try {
          const fence = dryRun ? undefined : deps.fence?.();
          const actions = await deps.controller.pass({ sweep: true, scale: false, dryRun, fence });
          return c.json({ dryRun, actions });
        } catch (err) {
          if (isDeposedError(err))
            throw new ApiError(409, "not_leader", `this orchestrator does not lead the fleet; only the leader reaps (${err.message})`);
          throw err;
        }
      },
    }),
    route({
      method: "get",
      path: "/v1/fleet/events",
      access: "admin",
      tag: "fleet",
      summary: "machine state changes and fleet actions, newest first (`?limit=&machine=`)",
      query: EventsQuery,
      responses: { 200: json("the events"), ...errors({ 400: "a bad limit", ...ADMIN }) },
      handler: async (c, { query }) => {
        const rows = await deps.registry.events(query.limit ?? 100, query.machine || undefined);
        return c.json({ events: rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() })) });
      },
    }),
  ];
}

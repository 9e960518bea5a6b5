/**
 * The dashboard's dependencies, taken from the orchestrator's parts (kept here so the HTTP part
 * mounts the dashboard with one call).
 */
import path from "node:path";
import type { Config } from "../config.ts";
import type { FleetViews } from "../fleet/fleet-view.ts";
import type { Logger } from "../log.ts";
import type { EpisodesPart } from "../parts/episodes-part.ts";
import type { FleetPart } from "../parts/fleet-part.ts";
import type { StorePart } from "../parts/store-part.ts";
import type { PartialTranscripts } from "../transcript/partial-transcript.ts";
import { ADMIN_TOKEN_FILE } from "../auth/token-store.ts";
import type { DashboardDeps } from "./dashboard.tsx";
import { liveEventsFrom } from "./live-stream.ts";

/** Where the admin token is, as the sign-in page and `podfleet up` say it ("the token in …"). */
export function adminTokenHint(config: Config): string {
  const file = path.join(config.dataDir, ADMIN_TOKEN_FILE);
  return config.adminToken ? `the value of PODFLEET_ADMIN_TOKEN, or the token in ${file}` : `the admin token in ${file}`;
}

export function dashboardDeps(
  config: Config,
  parts: { store: StorePart; fleet: FleetPart; episodes: EpisodesPart; views: FleetViews; partials: PartialTranscripts; log: Logger },
): DashboardDeps {
  const { store, fleet, episodes, views, log } = parts;
  return {
    database: store.database,
    store: store.store,
    episodes: episodes.episodes,
    verifyToken: (token) => store.tokens.verify(token),
    fleetViews: views,
    limits: fleet.limits,
    onLimitsChanged: () => fleet.autoscaler.wake(),
    feeds: episodes.feedStore,
    sources: episodes.sources,
    deliveries: episodes.deliveries,
    machineLogDir: config.machines.kind === "local" ? path.join(config.dataDir, "logs", "machines") : undefined,
    pricePerMachineSecond: config.pricePerMachineSecond,
    maxUploadBytes: config.maxAudioBytes,
    tokenHint: `Sign in with ${adminTokenHint(config)}, or any token from podfleet tokens create.`,
    publicUrl: config.publicUrl,
    live: liveEventsFrom(store.database.events),
    chunkEvents: store.database.events,
    partials: parts.partials,
    log: log.child({ component: "dashboard" }),
  };
}

/**
 * The HTTP part: the API (http/api.ts: episodes, tokens, hooks, feeds, metrics, fleet, partial transcripts),
 * the dashboard at `/` (dashboard/) and the server.
 * The server's URL is written to `<data-dir>/orchestrator.url`, where CLI commands on the same data
 * directory find this orchestrator instead of starting their own.
 */
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { serve } from "@hono/node-server";
import type { Config } from "../config.ts";
import { createDashboard } from "../dashboard/dashboard.tsx";
import { dashboardDeps } from "../dashboard/dashboard-deps.ts";
import { FleetViews } from "../fleet/fleet-view.ts";
import { createApi, type Api } from "../http/api.ts";
import { partialTranscriptRoutes } from "../http/partial-transcript-routes.ts";
import { settingsRoutes } from "../http/settings-routes.ts";
import type { Logger } from "../log.ts";
import { PartialTranscripts } from "../transcript/partial-transcript.ts";
import { Closer } from "./closer.ts";
import type { EpisodesPart } from "./episodes-part.ts";
import type { FleetPart } from "./fleet-part.ts";
import type { LeaderInfo } from "./leader-part.ts";
import type { QueuePart } from "./queue-part.ts";
import type { StorePart } from "./store-part.ts";

export interface HttpPart {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8080 */
  url: string;
  /** The app the server runs, for in-process requests (`api.app.request()`) and its OpenAPI document. */
  api: Api;
  close(): Promise<void>;
}

export async function openHttpPart(
  config: Config,
  deps: { store: StorePart; queue: QueuePart; fleet: FleetPart; episodes: EpisodesPart; leader: LeaderInfo; log: Logger },
): Promise<HttpPart> {
  const { store, queue, fleet, episodes: ep, leader, log } = deps;
  const closer = new Closer(log);
  return closer.guard(async () => {
    const views = new FleetViews({
      controller: fleet.controller,
      registry: fleet.registry,
      limits: fleet.limits,
      depth: () => queue.queue.depth(),
      fleetId: store.fleetId,
      // read from the lease key, so any orchestrator can say who leads; NATS trouble reads as "nobody"
      leader: () => leader.current().catch(() => null),
    });
    const partials = new PartialTranscripts({ store: store.store, results: queue.queue });
    const partialRoutes = partialTranscriptRoutes({ partials, episodes: ep.episodes, events: store.database.events, log });
    const dashboard = createDashboard(dashboardDeps(config, { store, fleet, episodes: ep, views, partials, log }));
    const api = createApi(
      {
        log,
        authenticate: (token) => store.tokens.verify(token),
        maxJsonBytes: config.maxJsonBytes,
        rateLimit: { ...config.rateLimit, trustProxy: config.trustProxy },
        episodes: { episodes: ep.episodes, maxUploadBytes: config.maxAudioBytes, fleetWaiting: () => fleet.controller.waitingReason() },
        tokens: store.tokens,
        hooks: {
          webhooks: ep.webhooks,
          sources: ep.sources,
          deliveries: ep.deliveries,
          episodes: store.store,
          publicUrl: config.publicUrl,
          callbackSecret: ep.callbackSecret,
          allowPrivateUrls: config.allowPrivateUrls,
        },
        feeds: { feeds: ep.feeds, store: ep.feedStore },
        fleet: {
          controller: fleet.controller,
          limits: fleet.limits,
          views,
          registry: fleet.registry,
          onLimitsChanged: () => fleet.autoscaler.wake(),
          fence: () => leader.leadership.fence(),
        },
        metrics: {
          database: store.database,
          depth: () => queue.queue.depth(),
          bootFailures: fleet.bootFailures,
          fleet: fleet.controller,
          limits: fleet.limits,
          leader: { instance: leader.instance, leadership: leader.leadership },
        },
      },
      {
        // more route modules (ApiRoute[] each: documented in /openapi.json, guarded by their declared access)
        routes: [partialRoutes.routes, settingsRoutes(config)],
        // sub-apps that authenticate their own requests and are not JSON API (the dashboard, at "/")
        apps: [{ path: "/", app: dashboard.app, undocumented: "the browser dashboard: HTML pages and forms behind a session cookie and CSRF token" }],
      },
    );
    const app = api.app;
    // Port 0 lets the kernel pick; the port actually bound is read back from the server.
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolve(s));
      s.once("error", reject);
    });
    const port = (server.address() as AddressInfo).port;
    closer.add(() => new Promise<void>((r) => server.close(() => r())));
    // run before the server closes (steps run newest first): open segment streams would hold it open
    closer.add(() => partialRoutes.close());
    closer.add(() => dashboard.close()); // likewise the dashboard's live streams
    const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
    const urlFile = path.join(config.dataDir, "orchestrator.url");
    fs.writeFileSync(urlFile, url, { mode: 0o600 });
    closer.add(() => fs.rmSync(urlFile, { force: true }));
    return { url, api, close: closer.close };
  });
}

/**
 * The HTTP part: the API (http/api.ts: episodes, tokens, hooks, feeds, metrics, fleet, partial transcripts),
 * the dashboard at `/` (dashboard/) and the server.
 * The server's URL is written to `<data-dir>/orchestrator.url`, where CLI commands on the same data
 * directory find this orchestrator instead of starting their own.
 */
import fs from "node:fs";
import { Server, type IncomingMessage } from "node:http";
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
    if (server instanceof Server) limitBodyIdle(server, config.uploadIdleSec * 1000); // always: serve() makes an HTTP/1 server here
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

/** How much longer than an upload's idle limit any other request body may go quiet: the upload's own 408 comes first. */
const BODY_IDLE_MARGIN_MS = 5_000;

/**
 * Node cuts every request whose body is not in within 300 s (`requestTimeout`), which would cut an
 * upload of a few hundred MB over an ordinary uplink (the default cap, 2 GiB, would need 7 MB/s). A
 * request's body may take as long as it needs instead, as long as it keeps moving: an upload that
 * sends nothing for `idleMs` is answered 408 by its receipt (PODFLEET_UPLOAD_IDLE_SEC), and any other
 * body that goes quiet a little longer loses its connection. Once a body is in, its connection has no
 * limit here: a handler may take its time, and the live streams write keepalives.
 */
function limitBodyIdle(server: Server, idleMs: number): void {
  server.requestTimeout = 0;
  server.on("request", (req: IncomingMessage) => {
    // no body: nothing to wait for (and a socket timeout left on it would end a quiet stream's connection)
    const length = req.headers["content-length"];
    if (req.headers["transfer-encoding"] === undefined && (length === undefined || length === "0")) return;
    req.setTimeout(idleMs + BODY_IDLE_MARGIN_MS, () => {
      if (!req.complete) req.destroy();
    });
    req.once("end", () => req.setTimeout(0));
  });
}

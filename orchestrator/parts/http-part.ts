/**
 * The HTTP part: the API app (episodes, tokens, hooks, feeds, metrics, fleet) and its server.
 * The server's URL is written to `<data-dir>/orchestrator.url`, where CLI commands on the same data
 * directory find this orchestrator instead of starting their own.
 */
import fs from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { serve } from "@hono/node-server";
import type { Config } from "../config.ts";
import { FleetViews } from "../fleet/fleet-view.ts";
import { createApp } from "../http/app.ts";
import { mountTokenRoutes } from "../http/auth.ts";
import { mountFeedRoutes } from "../http/feeds-routes.ts";
import { mountFleetRoutes } from "../http/fleet-routes.ts";
import { mountHookRoutes } from "../http/hooks-routes.ts";
import { mountMetricsRoutes } from "../http/metrics-routes.ts";
import { mountSettingsRoutes } from "../http/settings-routes.ts";
import type { Logger } from "../log.ts";
import { Closer } from "./closer.ts";
import type { EpisodesPart } from "./episodes-part.ts";
import type { FleetPart } from "./fleet-part.ts";
import type { QueuePart } from "./queue-part.ts";
import type { StorePart } from "./store-part.ts";

export interface HttpPart {
  /** Base URL of the HTTP API, e.g. http://127.0.0.1:8080 */
  url: string;
  close(): Promise<void>;
}

export async function openHttpPart(
  config: Config,
  deps: { store: StorePart; queue: QueuePart; fleet: FleetPart; episodes: EpisodesPart; log: Logger },
): Promise<HttpPart> {
  const { store, queue, fleet, episodes: ep, log } = deps;
  const closer = new Closer(log);
  return closer.guard(async () => {
    const views = new FleetViews({ controller: fleet.controller, registry: fleet.registry, limits: fleet.limits, depth: () => queue.queue.depth(), fleetId: store.fleetId });
    const app = createApp({
      episodes: ep.episodes,
      maxUploadBytes: config.maxAudioBytes,
      maxJsonBytes: config.maxJsonBytes,
      rateLimit: { ...config.rateLimit, trustProxy: config.trustProxy },
      log,
      machines: () => views.machines(),
      fleetWaiting: () => fleet.controller.waitingReason(),
      authenticate: (token) => store.tokens.verify(token),
    });
    mountTokenRoutes(app, store.tokens);
    mountHookRoutes(app, {
      webhooks: ep.webhooks,
      sources: ep.sources,
      deliveries: ep.deliveries,
      episodes: store.store,
      publicUrl: config.publicUrl,
      callbackSecret: ep.callbackSecret,
      allowPrivateUrls: config.allowPrivateUrls,
    });
    mountFeedRoutes(app, { feeds: ep.feeds, store: ep.feedStore });
    mountMetricsRoutes(app, { database: store.database, depth: () => queue.queue.depth(), bootFailures: fleet.bootFailures, fleet: fleet.controller });
    mountSettingsRoutes(app, config);
    mountFleetRoutes(app, { controller: fleet.controller, limits: fleet.limits, views, registry: fleet.registry, onLimitsChanged: () => fleet.autoscaler.wake() });
    // Port 0 lets the kernel pick; the port actually bound is read back from the server.
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, () => resolve(s));
      s.once("error", reject);
    });
    const port = (server.address() as AddressInfo).port;
    closer.add(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${port}`;
    const urlFile = path.join(config.dataDir, "orchestrator.url");
    fs.writeFileSync(urlFile, url, { mode: 0o600 });
    closer.add(() => fs.rmSync(urlFile, { force: true }));
    return { url, close: closer.close };
  });
}

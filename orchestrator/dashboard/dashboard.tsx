/**
 * The operator's dashboard, served by the orchestrator at `/` and `/ui/*`: server-rendered pages
 * (hono/jsx) with one small client script and one stylesheet, nothing loaded from elsewhere.
 *
 * Sign-in takes an admin token (checked like a bearer token) and opens a session
 * (session-store.ts): an HttpOnly, SameSite=Strict cookie, Secure under https. Every POST
 * carries the session's CSRF token (a hidden field, or the `x-csrf-token` header from the
 * script) and a same-origin `Origin` when the browser sends one. The JSON API under /v1 keeps
 * bearer tokens; these routes are open to it (http/auth.ts) because they check the session.
 *
 * `createDashboard(deps)` builds the sub-app (createApi mounts it at `/`); its `close()` ends the live streams at shutdown.
 */
import { Hono, type Context, type MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { html } from "hono/html";
import type { DeliveryService } from "../delivery/delivery-service.ts";
import type { EpisodeService } from "../episodes/episode-service.ts";
import type { FeedStore } from "../feeds/feed-store.ts";
import type { FleetLimitsStore } from "../fleet/fleet-limits.ts";
import type { FleetViews } from "../fleet/fleet-view.ts";
import type { Logger } from "../log.ts";
import type { SourceStore } from "../sources/source-store.ts";
import type { Database } from "../store/database.ts";
import type { EpisodeStore } from "../store/episode-store.ts";
import type { StateEvents } from "../events/state-events.ts";
import type { PartialTranscripts } from "../transcript/partial-transcript.ts";
import { ChunkAttemptLog } from "./chunk-attempt-log.ts";
import { ASSETS } from "./dashboard-assets.ts";
import { DashboardError, mountDashboardActions, wantsJson } from "./dashboard-actions.ts";
import { loadEpisodeDetail } from "./episode-detail.ts";
import { listEpisodeLines } from "./episode-rows.ts";
import { fleetEconomics, recentBootFailures, stateHistory } from "./fleet-history.ts";
import { LiveStreams, type LiveEvents } from "./live-stream.ts";
import { EpisodePage } from "./pages/episode-page.tsx";
import { EpisodesPage } from "./pages/episodes-page.tsx";
import { FeedsPage, LoginPage } from "./pages/feeds-page.tsx";
import { FleetPage } from "./pages/fleet-page.tsx";
import { Layout } from "./pages/layout.tsx";
import { sameSecret, SessionStore, SESSION_TTL_MS, type Session } from "./session-store.ts";

export interface DashboardDeps {
  database: Database;
  store: EpisodeStore;
  episodes: EpisodeService;
  /** The admin-token check of the API: the token's id when it is live. */
  verifyToken(token: string): Promise<string | undefined>;
  fleetViews: FleetViews;
  limits: FleetLimitsStore;
  onLimitsChanged(): void;
  feeds: FeedStore;
  sources: SourceStore;
  deliveries: DeliveryService;
  /** `<data-dir>/logs/machines` with the local runtime; undefined when machines run on Fly. */
  machineLogDir: string | undefined;
  pricePerMachineSecond: number | undefined;
  maxUploadBytes: number;
  /** Shown on the sign-in page: where the admin token is. */
  tokenHint: string;
  /** PODFLEET_PUBLIC_URL: an https one makes the cookie Secure even behind a TLS-terminating proxy. */
  publicUrl: string | undefined;
  /** State transitions that drive the live updates; absent: pages update only when reloaded. */
  live: LiveEvents | undefined;
  /** The transcript of an episode's finished chunks so far (progressive results). */
  partials: Pick<PartialTranscripts, "read">;
  /** The transitions the chunk attempt log records (the timeline's bars); absent: the timeline shows each chunk's last attempt. */
  chunkEvents: Pick<StateEvents, "on"> | undefined;
  log: Logger;
  now?: () => number;
}

export type DashboardEnv = { Variables: { session: Session } };

type HtmlBody = Parameters<Context["html"]>[0];

export const SESSION_COOKIE = "podfleet_session";

/** Adds the dashboard's routes to the API app. */
export function createDashboard(deps: DashboardDeps): { app: Hono; close(): void } {
  const dash = new Hono<DashboardEnv>();
  const sessions = new SessionStore(deps.database);
  const streams = new LiveStreams(deps.live);
  const attempts = new ChunkAttemptLog(deps.database, deps.log);
  const unfollow = deps.chunkEvents ? attempts.follow(deps.chunkEvents) : () => {};
  let closing = false;
  // Once shutting down, every answer closes its connection: a browser that reconnects its event
  // stream over a kept-alive connection would otherwise keep the server from closing. Scoped to the
  // dashboard's own paths: middleware on "*" would match every API path too (api.ts).
  const closeWhenClosing: MiddlewareHandler = async (c, next) => {
    await next();
    if (closing) c.header("connection", "close");
  };
  dash.use("/", closeWhenClosing);
  dash.use("/ui/*", closeWhenClosing);
  const now = deps.now ?? Date.now;

  dash.onError((err, c) => {
    const status = err instanceof DashboardError ? err.status : 500;
    const message = err instanceof DashboardError ? err.message : "internal error";
    if (!(err instanceof DashboardError)) deps.log.error("dashboard error", { path: c.req.path, error: err });
    if (wantsJson(c)) return c.json({ error: { code: err instanceof DashboardError ? err.code : "internal", message } }, status);
    return page(
      c,
      <Layout title="Something went wrong" nav={null} csrf={null}>
        <p class="error-text" role="alert">
          {message}
        </p>
        <p>
          <a href={c.req.header("referer") ?? "/"}>Back</a>
        </p>
      </Layout>,
      status,
    );
  });

  for (const asset of ASSETS) {
    dash.get(asset.path, (c) =>
      c.body(new Uint8Array(asset.body), 200, { "content-type": asset.contentType, "cache-control": "public, max-age=31536000, immutable" }),
    );
  }

  dash.get("/ui/login", async (c) => {
    if (await sessions.find(getCookie(c, SESSION_COOKIE))) return c.redirect("/", 303);
    return page(c, <LoginPage error={null} tokenHint={deps.tokenHint} />);
  });

  dash.post("/ui/login", sameOrigin, async (c) => {
    const form = await c.req.parseBody();
    const token = typeof form.token === "string" ? form.token.trim() : "";
    const tokenId = token ? await deps.verifyToken(token) : undefined;
    if (!tokenId) return page(c, <LoginPage error="That token is not a live admin token." tokenHint={deps.tokenHint} />, 401);
    const { cookie } = await sessions.open(tokenId);
    setCookie(c, SESSION_COOKIE, cookie, {
      httpOnly: true,
      sameSite: "Strict",
      secure: isHttps(c, deps.publicUrl),
      path: "/",
      maxAge: SESSION_TTL_MS / 1000,
    });
    return c.redirect("/", 303);
  });

  // Everything below needs a session; every POST also its CSRF token.
  const requireSession: MiddlewareHandler<DashboardEnv> = async (c, next) => {
    const session = await sessions.find(getCookie(c, SESSION_COOKIE));
    if (!session) {
      if (c.req.method === "GET" && !wantsJson(c) && c.req.path !== "/ui/events") return c.redirect("/ui/login", 303);
      throw new DashboardError(401, "unauthorized", "sign in first (your session ended)");
    }
    c.set("session", session);
    if (c.req.method !== "GET" && c.req.method !== "HEAD") await checkCsrf(c, session);
    await next();
  };
  dash.use("/", requireSession);
  dash.use("/ui/*", requireSession);

  dash.post("/ui/logout", async (c) => {
    await sessions.close(c.get("session"));
    deleteCookie(c, SESSION_COOKIE, { path: "/", secure: isHttps(c, deps.publicUrl) });
    return c.redirect("/ui/login", 303);
  });

  dash.get("/ui/events", (c) => streams.serve(c));

  dash.get("/", async (c) => {
    const status = c.req.query("status") || undefined;
    const lines = await listEpisodeLines(deps.database, { status, limit: 100, now: now() });
    return page(c, <EpisodesPage csrf={c.get("session").csrfToken} lines={lines} status={status} />);
  });

  dash.get("/ui/episodes/:id", async (c) => {
    const t = now();
    const detail = await loadEpisodeDetail(
      c.req.param("id"),
      { database: deps.database, store: deps.store, deliveries: deps.deliveries, attempts, machineLogDir: deps.machineLogDir },
      t,
    );
    if (!detail) throw new DashboardError(404, "not_found", `no episode ${c.req.param("id")}`);
    return page(
      c,
      <EpisodePage csrf={c.get("session").csrfToken} d={detail} now={t} partialUrl={`/ui/episodes/${detail.row.id}/partial-transcript.json`} />,
    );
  });

  // The transcript so far, for the page while the episode runs (the API's is behind a bearer token).
  dash.get("/ui/episodes/:id/partial-transcript.json", async (c) => {
    const p = await deps.partials.read(c.req.param("id"));
    if (!p) throw new DashboardError(404, "not_found", `no episode ${c.req.param("id")}`);
    c.header("cache-control", "no-store");
    return c.json({
      partial: !p.complete,
      status: p.status,
      chunksDone: p.chunksDone,
      chunkCount: p.chunkCount,
      throughSec: p.throughSec,
      stableSegments: p.stableSegments,
      segments: p.segments,
    });
  });

  dash.get("/ui/fleet", async (c) => {
    const t = now();
    const [fleet, history, bootFailures, economics] = await Promise.all([
      deps.fleetViews.fleet(),
      stateHistory(deps.database, t),
      recentBootFailures(deps.database),
      fleetEconomics(deps.database, deps.pricePerMachineSecond ?? null),
    ]);
    return page(
      c,
      <FleetPage
        csrf={c.get("session").csrfToken}
        fleet={fleet}
        history={history}
        bootFailures={bootFailures}
        economics={economics}
        pricePerMachineSecond={deps.pricePerMachineSecond ?? null}
      />,
    );
  });

  dash.get("/ui/feeds", async (c) => {
    const feeds = await deps.feeds.list();
    const withItems = await Promise.all(feeds.map(async (feed) => ({ feed, items: await deps.feeds.itemsWithEpisodes(feed.id) })));
    return page(c, <FeedsPage csrf={c.get("session").csrfToken} feeds={withItems} sources={await deps.sources.list()} now={now()} />);
  });

  mountDashboardActions(dash, deps);
  // a plain Hono for createApi's sub-app slot; the session variables stay inside `dash`
  const app = new Hono();
  app.route("/", dash);
  return {
    app,
    close: () => {
      closing = true;
      unfollow();
      streams.close();
    },
  };
}

/** An HTML page with the headers every dashboard page gets (no caching, no framing, nothing from elsewhere). */
function page(c: Context, body: HtmlBody, status: ContentfulStatusCode = 200) {
  c.header("cache-control", "no-store");
  c.header("x-frame-options", "DENY");
  c.header("referrer-policy", "same-origin");
  c.header("x-content-type-options", "nosniff");
  // media-src allows http(s): a URL episode is played from where it was fetched
  c.header(
    "content-security-policy",
    "default-src 'self'; img-src 'self' data:; media-src 'self' http: https:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  );
  return c.html(html`<!DOCTYPE html>${body}`, status);
}

function isHttps(c: Context, publicUrl: string | undefined): boolean {
  return new URL(c.req.url).protocol === "https:" || (publicUrl?.startsWith("https:") ?? false);
}

/** A browser's Origin header, when sent, must be this server's own. */
function checkSameOrigin(c: Context): void {
  const origin = c.req.header("origin");
  if (origin && origin !== "null" && origin !== new URL(c.req.url).origin && !sameHost(origin, c.req.header("host"))) {
    throw new DashboardError(403, "cross_origin", "this form was sent from another site");
  }
  if (origin === "null") throw new DashboardError(403, "cross_origin", "this form was sent from an opaque origin");
}

const sameOrigin: MiddlewareHandler = async (c, next) => {
  checkSameOrigin(c);
  await next();
};

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

async function checkCsrf(c: Context<DashboardEnv>, session: Session): Promise<void> {
  checkSameOrigin(c);
  let sent = c.req.header("x-csrf-token");
  if (sent === undefined && (c.req.header("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) {
    const form = await c.req.parseBody();
    sent = typeof form._csrf === "string" ? form._csrf : undefined;
  }
  if (!sent || !sameSecret(sent, session.csrfToken))
    throw new DashboardError(403, "csrf", "the form's security token is missing or stale: reload the page and try again");
}

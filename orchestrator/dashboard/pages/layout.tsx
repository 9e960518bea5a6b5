/**
 * The page frame every dashboard page shares: navigation, the sign-out form, the CSRF token the
 * client script sends with each action, and the live-connection indicator. Regions marked
 * `data-live` are re-read from the server when a state event arrives (see assets/dashboard.js).
 */
import type { Child } from "hono/jsx";
import { ASSET_PATHS } from "../dashboard-assets.ts";

export interface PageFrame {
  title: string;
  /** Which navigation entry is the current page. */
  nav: "episodes" | "fleet" | "feeds" | null;
  csrf: string | null;
  children?: Child;
}

export function Layout(props: PageFrame) {
  const link = (key: PageFrame["nav"], href: string, label: string) => (
    <a href={href} aria-current={props.nav === key ? "page" : undefined}>
      {label}
    </a>
  );
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {props.csrf ? <meta name="csrf-token" content={props.csrf} /> : null}
        <title>{`${props.title} · podfleet`}</title>
        <link rel="stylesheet" href={ASSET_PATHS.css} />
        <link rel="icon" href="data:," />
        {props.csrf ? <script type="module" src={ASSET_PATHS.js}></script> : null}
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <span class="brand">podfleet</span>
          {props.csrf ? (
            <>
              <nav aria-label="Dashboard">
                {link("episodes", "/", "Episodes")}
                {link("fleet", "/ui/fleet", "Fleet")}
                {link("feeds", "/ui/feeds", "Feeds and sources")}
              </nav>
              <span id="live-status" class="live" role="status" aria-live="polite" data-state="connecting">
                connecting…
              </span>
              <form method="post" action="/ui/logout" class="logout">
                <input type="hidden" name="_csrf" value={props.csrf} />
                <button type="submit">Sign out</button>
              </form>
            </>
          ) : null}
        </header>
        <main id="main" tabindex={-1}>
          <h1>{props.title}</h1>
          <p id="flash" class="flash" role="alert" hidden></p>
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** A POST form for one action, with its CSRF field; the client script sends it without leaving the page. */
export function ActionForm(props: {
  action: string;
  csrf: string;
  label: string;
  ariaLabel?: string;
  class?: string;
  confirm?: string;
  children?: Child;
}) {
  return (
    <form method="post" action={props.action} class={`action ${props.class ?? ""}`} data-confirm={props.confirm}>
      <input type="hidden" name="_csrf" value={props.csrf} />
      {props.children}
      <button type="submit" aria-label={props.ariaLabel}>
        {props.label}
      </button>
    </form>
  );
}

export function formatSeconds(sec: number | null | undefined): string {
  if (sec === null || sec === undefined || !Number.isFinite(sec)) return "–";
  const s = Math.round(sec);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, "0")} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} min`;
}

export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "–";
  return new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

/** "in 3 min" / "2 min ago" relative to now. */
export function formatRelative(ms: number | null | undefined, now: number): string {
  if (ms === null || ms === undefined) return "–";
  const d = (ms - now) / 1000;
  return d >= 0 ? `in ${formatSeconds(d)}` : `${formatSeconds(-d)} ago`;
}

export function StatusBadge(props: { status: string }) {
  return <span class={`badge s-${props.status}`}>{props.status.replace("_", " ")}</span>;
}

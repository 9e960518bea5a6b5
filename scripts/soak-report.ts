/** The hostile soak's verdict: the checks of the bar, and the summary table it prints. */
import type { HostileKind } from "../test/support/hostile-servers.ts";
import type { EpisodeView, FeedView } from "./soak-api.ts";

export interface SoakFacts {
  /** Episodes submitted by URL, with the server kind each was sent to. */
  urlEpisodes: Map<string, HostileKind>;
  /** Every episode the orchestrator knows at the end (URL and feed ones). */
  episodes: EpisodeView[];
  feeds: FeedView[];
  /** Distinct lastPolledAt values seen per feed while the soak ran. */
  pollsSeen: Map<string, number>;
  kindOfUrl: (url: string) => HostileKind | undefined;
  expected: Record<HostileKind, { status: "done" | "failed"; reason?: RegExp }>;
  restarts: number;
  exits: string[];
  escapes: number | undefined;
  wallSec: number;
  timedOut: boolean;
}

const TERMINAL = new Set(["done", "failed"]);

/** A reason a person can act on: not empty, not the catch-all. */
export function isClearReason(reason: string | null): boolean {
  return !!reason && reason.trim().length > 0 && !/internal error/i.test(reason) && !/undefined|\[object /.test(reason);
}

function kindOf(facts: SoakFacts, e: EpisodeView): HostileKind | undefined {
  return facts.urlEpisodes.get(e.id) ?? (e.source.url ? facts.kindOfUrl(e.source.url) : undefined);
}

/** Every way the soak missed the bar, one line each (empty: passed). */
export function checkSoak(facts: SoakFacts): string[] {
  const out: string[] = [];
  if (facts.restarts > 0) out.push(`the orchestrator exited ${facts.restarts} time(s): ${facts.exits.join(" | ")}`);
  if (facts.timedOut) out.push("the soak hit its hard timeout before everything settled");
  if (facts.escapes === undefined) out.push("could not read podfleet_escaped_errors_total from /metrics");
  else if (facts.escapes > 0) out.push(`${facts.escapes} error(s) escaped to the last-resort handler (see the log: "an error escaped its item")`);
  const known = new Set(facts.episodes.map((e) => e.id));
  const missing = [...facts.urlEpisodes.keys()].filter((id) => !known.has(id));
  if (missing.length > 0) out.push(`${missing.length} submitted episode(s) are gone from the list`);
  for (const e of facts.episodes) {
    const kind = kindOf(facts, e) ?? "?";
    const label = `${e.id} (${facts.urlEpisodes.has(e.id) ? "url" : "feed"}, ${kind})`;
    if (!TERMINAL.has(e.status)) {
      out.push(`${label} did not end: still ${e.status}`);
      continue;
    }
    if (e.status === "failed" && !isClearReason(e.error)) out.push(`${label} failed without a clear reason: ${JSON.stringify(e.error)}`);
    const want = kind === "?" ? undefined : facts.expected[kind];
    if (!want) continue;
    if (e.status !== want.status) out.push(`${label} ended ${e.status}, expected ${want.status}${e.error ? `: ${e.error.slice(0, 160)}` : ""}`);
    else if (want.status === "failed" && want.reason && !want.reason.test(e.error ?? ""))
      out.push(`${label} failed with "${(e.error ?? "").slice(0, 160)}", expected a reason matching ${want.reason}`);
  }
  for (const f of facts.feeds) {
    if (f.lastError) out.push(`feed ${f.id} last poll failed: ${f.lastError}`);
    if ((facts.pollsSeen.get(f.id) ?? 0) < 2)
      out.push(`feed ${f.id} was polled ${facts.pollsSeen.get(f.id) ?? 0} time(s) during the soak (want the add and at least one timed poll)`);
    if (!f.entries.some((i) => i.guid?.endsWith("-new"))) out.push(`feed ${f.id}: the item added during the soak was never found`);
    for (const i of f.entries) if (i.state === "pending") out.push(`feed ${f.id} item ${i.guid} is still pending`);
  }
  return out;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (r: string[]) =>
    r
      .map((v, c) => v.padEnd(widths[c]!))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

export function printReport(facts: SoakFacts, failures: string[]): void {
  const w = (s: string) => process.stdout.write(s);
  const byKind = new Map<string, EpisodeView[]>();
  for (const e of facts.episodes) {
    const k = kindOf(facts, e) ?? "?";
    byKind.set(k, [...(byKind.get(k) ?? []), e]);
  }
  w("\n== Episodes by server (url + feed)\n");
  const rows = [...byKind]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([kind, eps]) => {
      const n = (s: string) => eps.filter((e) => e.status === s).length;
      const open = eps.filter((e) => !TERMINAL.has(e.status)).length;
      const fromUrl = eps.filter((e) => facts.urlEpisodes.has(e.id)).length;
      const want = facts.expected[kind as HostileKind];
      const met = eps.filter(
        (e) => want && e.status === want.status && (want.status === "done" || !want.reason || want.reason.test(e.error ?? "")),
      ).length;
      return [
        kind,
        `${fromUrl}+${eps.length - fromUrl}`,
        String(n("done")),
        String(n("failed")),
        String(open),
        want ? `${want.status}${want.reason ? ` ${want.reason}` : ""}` : "-",
        `${met}/${eps.length}`,
      ];
    });
  w(table(["SERVER", "URL+FEED", "DONE", "FAILED", "OPEN", "EXPECTED", "AS EXPECTED"], rows));

  w("\n== Failure reasons\n");
  const reasons = new Map<string, number>();
  for (const e of facts.episodes) {
    if (e.status !== "failed") continue;
    const key = `${(kindOf(facts, e) ?? "?").padEnd(18)} ${(e.error ?? "(none)").replace(/ep\d+|f\d+i\d+/g, "…").slice(0, 150)}`;
    reasons.set(key, (reasons.get(key) ?? 0) + 1);
  }
  for (const [r, n] of [...reasons].sort()) w(`${String(n).padStart(3)}  ${r}\n`);
  if (reasons.size === 0) w("  (none)\n");

  w("\n== Feeds\n");
  const items = facts.feeds.flatMap((f) => f.entries);
  const states = new Map<string, number>();
  for (const i of items) states.set(i.state, (states.get(i.state) ?? 0) + 1);
  const polls = [...facts.pollsSeen.values()].reduce((a, b) => a + b, 0);
  w(
    `feeds ${facts.feeds.length}; polls observed ${polls}; feeds with a failed last poll ${facts.feeds.filter((f) => f.lastError).length}; ` +
      `new items found ${facts.feeds.filter((f) => f.entries.some((i) => i.guid?.endsWith("-new"))).length}/${facts.feeds.length}\n`,
  );
  w(`items ${items.length}: ${[...states].map(([s, n]) => `${s} ${n}`).join(", ")}\n`);

  w("\n== Orchestrator\n");
  w(
    `restarts ${facts.restarts} (must be 0); errors escaped to the last-resort handler ${facts.escapes ?? "unknown"}; wall time ${facts.wallSec.toFixed(0)} s\n`,
  );
  w(`episodes ${facts.episodes.length} (${facts.urlEpisodes.size} by URL, ${facts.episodes.length - facts.urlEpisodes.size} from feeds)\n`);

  w(`\n== Verdict: ${failures.length === 0 ? "PASS" : `FAIL (${failures.length})`}\n`);
  for (const f of failures.slice(0, 60)) w(`  - ${f}\n`);
  if (failures.length > 60) w(`  … and ${failures.length - 60} more\n`);
}

/**
 * GET /metrics: the farm's figures in Prometheus text format, read fresh from the database and
 * the JetStream consumer on each scrape, so a restarted orchestrator reports the same numbers,
 * followed by the process, runtime and HTTP metrics of this process (http-metrics.ts, prom-client).
 * The farm's figures stay on the small writer (metrics-registry.ts) because they are snapshots of
 * rows, the chunk latency histogram included, which prom-client's observe-only histograms cannot
 * express. The benchmark (bench/) measures the same quantities; production watches them here, and
 * ops/monitoring/ holds the alert rules and the Grafana dashboard built on them.
 */
import { z } from "zod";
import { CLAIM_KINDS } from "../cluster/work-claims.ts";
import { EPISODE_STATES } from "../episodes/lifecycle.ts";
import { escapedErrorCounts } from "../last-resort-handler.ts";
import type { Leadership } from "../cluster/leadership.ts";
import type { BootFailureLog } from "../fleet/boot-failure-log.ts";
import type { FleetController } from "../fleet/fleet-controller.ts";
import type { FleetLimitsStore } from "../fleet/fleet-limits.ts";
import { utcDay } from "../fleet/machine-registry.ts";
import type { QueueDepth } from "../queue/jetstream.ts";
import type { Database } from "../store/database.ts";
import { errors, route, type ApiRoute } from "./api-route.ts";
import type { HttpMetrics } from "./http-metrics.ts";
import { MetricsText, PROMETHEUS_CONTENT_TYPE } from "./metrics-registry.ts";

export interface MetricsDeps {
  database: Database;
  depth: () => Promise<QueueDepth>;
  /** Boot failures ever recorded (podfleet_boot_failures_total). */
  bootFailures?: Pick<BootFailureLog, "total">;
  /** The boot-failure back-off in force (podfleet_boot_backoff_seconds). */
  fleet?: Pick<FleetController, "bootBackoff">;
  /** The daily budget in force (podfleet_daily_budget_machine_seconds). */
  limits?: Pick<FleetLimitsStore, "get">;
  /** This orchestrator's leadership (podfleet_leader, podfleet_leader_term, podfleet_leader_lease_renewals_total). */
  leader?: { instance: string; leadership: Pick<Leadership, "isLeader" | "term" | "renewals"> };
  now?: () => number;
}

/** Upper bounds (seconds) of the chunk latency histogram: queued → result recorded. */
export const CHUNK_LATENCY_BUCKETS = [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600] as const;

async function rows(database: Database, sql: string, args: string[] = []): Promise<Array<Record<string, unknown>>> {
  const r = await database.client.execute({ sql, args });
  return r.rows;
}

/** Renders every metric family; exported for tests and embedding. */
export async function renderMetrics(deps: MetricsDeps): Promise<string> {
  const m = new MetricsText();
  const depth = await deps.depth().catch(() => undefined);
  m.gauge("podfleet_queue_depth", "Chunk jobs on the work queue: pending (not yet delivered) and in_flight (delivered, unacked).", [
    { labels: { kind: "pending" }, value: depth?.pending ?? Number.NaN },
    { labels: { kind: "in_flight" }, value: depth?.inFlight ?? Number.NaN },
  ]);

  const chunkStates = new Map<string, number>([
    ["queued", 0],
    ["leased", 0],
    ["done", 0],
    ["failed", 0],
  ]);
  for (const r of await rows(deps.database, "select state, count(*) as n from chunks group by state")) chunkStates.set(String(r.state), Number(r.n));
  m.gauge(
    "podfleet_chunks",
    "Chunks by state, all episodes.",
    [...chunkStates].map(([state, value]) => ({ labels: { state }, value })),
  );

  const [oldest] = await rows(deps.database, "select min(updated_at) as at from chunks where state = 'queued'");
  const now = (deps.now ?? Date.now)();
  m.gauge("podfleet_queue_oldest_seconds", "Age of the oldest chunk waiting for a worker, since it was queued (0: none waits).", [
    { value: oldest?.at == null ? 0 : Math.max(0, (now - Number(oldest.at)) / 1000) },
  ]);

  const episodeStates = new Map<string, number>(EPISODE_STATES.map((s) => [s, 0]));
  for (const r of await rows(deps.database, "select status, count(*) as n from episodes group by status"))
    episodeStates.set(String(r.status), Number(r.n));
  // every status is listed (at 0 until an episode reaches it), so a rate or alert on one exists from the start
  m.gauge(
    "podfleet_episodes",
    "Episodes by status, all time.",
    [...episodeStates].map(([status, value]) => ({ labels: { status }, value })),
  );

  const machineStates = new Map<string, number>();
  for (const r of await rows(deps.database, "select state, count(*) as n from machines where destroyed_at is null group by state")) {
    machineStates.set(String(r.state), Number(r.n));
  }
  m.gauge(
    "podfleet_machines",
    "Worker machines not yet destroyed, by state.",
    [...machineStates].map(([state, value]) => ({ labels: { state }, value })),
  );

  const cases = CHUNK_LATENCY_BUCKETS.map((le, i) => `sum(case when (done_at - created_at) <= ${le * 1000} then 1 else 0 end) as b${i}`).join(", ");
  const [h] = await rows(
    deps.database,
    `select count(*) as n, coalesce(sum(done_at - created_at), 0) as total, ${cases} from chunks where state = 'done' and done_at is not null`,
  );
  m.histogram("podfleet_chunk_latency_seconds", "Time from a chunk being queued to its result being recorded.", {
    buckets: CHUNK_LATENCY_BUCKETS.map((le, i) => ({ le, count: Number(h?.[`b${i}`] ?? 0) })),
    sum: Number(h?.total ?? 0) / 1000,
    count: Number(h?.n ?? 0),
  });

  const [usage] = await rows(deps.database, "select coalesce(sum(machine_seconds), 0) as s from fleet_usage");
  const machineSeconds = Number(usage?.s ?? 0);
  m.counter("podfleet_machine_seconds_total", "Machine-seconds the fleet has used (all days).", [{ value: machineSeconds }]);
  const [audio] = await rows(deps.database, "select coalesce(sum(duration_sec), 0) as s from episodes where status = 'done'");
  const audioHours = Number(audio?.s ?? 0) / 3600;
  m.counter("podfleet_audio_seconds_done_total", "Seconds of audio in episodes transcribed to the end.", [{ value: audioHours * 3600 }]);
  m.gauge("podfleet_machine_seconds_per_audio_hour", "Machine-seconds used per hour of audio transcribed (NaN before the first episode).", [
    { value: audioHours > 0 ? machineSeconds / audioHours : Number.NaN },
  ]);
  const [today] = await rows(deps.database, "select coalesce(sum(machine_seconds), 0) as s from fleet_usage where day = ?", [utcDay(now)]);
  m.gauge("podfleet_machine_seconds_today", "Machine-seconds used today (UTC), what the daily budget is compared with.", [
    { value: Number(today?.s ?? 0) },
  ]);
  if (deps.limits) {
    const budget = (await deps.limits.get()).dailyBudgetMachineSeconds;
    m.gauge("podfleet_daily_budget_machine_seconds", "The daily budget of machine-seconds (NaN: no budget).", [{ value: budget ?? Number.NaN }]);
  }
  // cluster-wide, from the claims' own rows: every orchestrator reports the same count (cluster/work-claims.ts)
  const takenOver = new Map<string, number>(CLAIM_KINDS.map((k) => [k, 0]));
  for (const r of await rows(deps.database, "select kind, coalesce(sum(taken_over), 0) as n from work_claims group by kind"))
    takenOver.set(String(r.kind), Number(r.n));
  m.counter(
    "podfleet_claims_taken_over_total",
    "Ingests and stitches one orchestrator took over after another's claim expired unreleased (it died or stalled), all orchestrators together.",
    [...takenOver].map(([kind, value]) => ({ labels: { kind }, value })),
  );
  const escaped = escapedErrorCounts();
  m.counter(
    "podfleet_escaped_errors_total",
    "Errors no item boundary caught, survived by the last-resort handler of `podfleet up` (each one is a bug to report).",
    [
      { labels: { kind: "uncaught_exception" }, value: escaped.uncaught_exception },
      { labels: { kind: "unhandled_rejection" }, value: escaped.unhandled_rejection },
    ],
  );
  if (deps.bootFailures) {
    m.counter("podfleet_boot_failures_total", "Worker machines that ended before claiming any work (boot failures).", [
      { value: await deps.bootFailures.total() },
    ]);
  }
  if (deps.fleet) {
    const failing = deps.fleet.bootBackoff;
    m.gauge("podfleet_boot_backoff_seconds", "Seconds until the fleet tries another machine after consecutive boot failures (0: no back-off).", [
      { value: failing ? Math.max(0, Math.ceil((failing.until - now) / 1000)) : 0 },
    ]);
    m.gauge("podfleet_boot_failures_consecutive", "Boot failures since workers last booted or the settings last changed.", [
      { value: failing?.failures ?? 0 },
    ]);
  }
  if (deps.leader) {
    const { instance, leadership } = deps.leader;
    m.gauge("podfleet_leader", "1 on the orchestrator that holds the leader lease and runs the singleton duties, 0 on the others.", [
      { labels: { instance }, value: leadership.isLeader() ? 1 : 0 },
    ]);
    m.gauge(
      "podfleet_leader_term",
      "The leader term this orchestrator leads under (the lease revision it was elected at); 0 when it does not lead.",
      [{ labels: { instance }, value: leadership.term ?? 0 }],
    );
    m.counter(
      "podfleet_leader_lease_renewals_total",
      "Leader lease renewals by this orchestrator: ok, refused (another holder, or the key aged out) or error (NATS unreachable); any but ok steps it down.",
      (["ok", "refused", "error"] as const).map((result) => ({ labels: { instance, result }, value: leadership.renewals[result] })),
    );
  }
  return m.render();
}

/** GET /metrics: the farm's figures (when `deps` is given), then this process's (`http`). */
export function metricsRoutes(deps: MetricsDeps | undefined, http: HttpMetrics): ApiRoute[] {
  return [
    route({
      method: "get",
      path: "/metrics",
      access: "admin",
      tag: "operations",
      summary: "Prometheus metrics: queue, chunks, episodes, machines, usage and budget, boot failures, HTTP requests, process and runtime",
      responses: {
        200: { description: "Prometheus text format 0.0.4", content: { "text/plain": { schema: z.string() } } },
        ...errors({ 401: "no live admin token" }),
      },
      handler: async (c) => c.body((deps ? await renderMetrics(deps) : "") + (await http.render()), 200, { "content-type": PROMETHEUS_CONTENT_TYPE }),
    }),
  ];
}

/**
 * Everything the episode page shows: the episode, its chunks, one bar per attempt for the chunk
 * timeline (lane = machine), the audio plan (seams and overlaps), failures with the machine's log
 * tail, and callback deliveries.
 *
 * Attempts come from the attempt log (chunk-attempt-log.ts). Chunks it has no rows for (worked
 * before it existed) fall back to the chunk row's last attempt and the sweeper's `requeue` machine
 * events (a machine that died or went silent holding chunks; such an attempt is drawn from the
 * machine's start, since nothing kept when that claim happened).
 */
import { and, eq, like } from "drizzle-orm";
import { episodeLinks, machineEvents, machines } from "../../db/schema.ts";
import { SAMPLE_RATE } from "../../contract/wire.ts";
import type { DeliveryView } from "../delivery/delivery-service.ts";
import type { ChunkRow, EpisodeRow, EpisodeStore, PlannedChunk } from "../store/episode-store.ts";
import type { Database } from "../store/database.ts";
import { progressOf, sourceOf, type EpisodeSource } from "./episode-rows.ts";
import type { ChunkAttemptRow } from "./chunk-attempt-log.ts";
import { readLogTail } from "./machine-log.ts";

export type AttemptOutcome = "done" | "failed" | "running" | "requeued" | "cancelled" | "waiting";

export interface AttemptBar {
  chunkId: string;
  chunkIndex: number;
  machineId: string;
  start: number;
  end: number;
  outcome: AttemptOutcome;
  detail: string | null;
}

export interface PlanSpan {
  index: number;
  startSec: number;
  endSec: number;
  /** Why the cut after this chunk is where it is (a silence, or no silence: an overlap). */
  reason: string;
  /** Seconds this chunk shares with the next one (0 at a clean seam). */
  overlapSec: number;
}

export interface ChunkFailure {
  chunkId: string;
  chunkIndex: number;
  state: string;
  machineId: string | null;
  attempt: number | null;
  at: number;
  reason: string;
  logTail: string | null;
}

export interface EpisodeDetail {
  row: EpisodeRow;
  source: EpisodeSource;
  callbackUrl: string | null;
  chunks: ChunkRow[];
  progress: number | null;
  etaSec: number | null;
  attempts: AttemptBar[];
  /** Time span the timeline covers (ms). */
  span: { from: number; to: number };
  plan: PlanSpan[];
  failures: ChunkFailure[];
  deliveries: DeliveryView[];
  /** Where the page's audio player reads the episode (null when the orchestrator kept no copy). */
  audioUrl: string | null;
}

export interface EpisodeDetailDeps {
  database: Database;
  store: EpisodeStore;
  deliveries: { forEpisode(id: string): Promise<DeliveryView[]> };
  attempts: { forEpisode(id: string): Promise<ChunkAttemptRow[]> };
  /** `<data-dir>/logs/machines` on the local runtime; undefined when machines run elsewhere (Fly). */
  machineLogDir: string | undefined;
}

function parsePlan(json: string | null): PlannedChunk[] {
  if (!json) return [];
  try {
    const plan = JSON.parse(json) as unknown;
    return Array.isArray(plan) ? (plan as PlannedChunk[]) : [];
  } catch {
    return [];
  }
}

export function planSpans(plan: PlannedChunk[]): PlanSpan[] {
  return plan.map((c, i) => {
    const next = plan[i + 1];
    const overlap = next ? Math.max(0, c.endSample - next.startSample) : 0;
    return {
      index: c.index,
      startSec: c.startSample / SAMPLE_RATE,
      endSec: c.endSample / SAMPLE_RATE,
      reason: c.reason,
      overlapSec: overlap / SAMPLE_RATE,
    };
  });
}

function barOutcome(outcome: string): AttemptOutcome {
  if (outcome === "done" || outcome === "failed" || outcome === "running" || outcome === "cancelled") return outcome;
  return "requeued"; // requeued, superseded
}

function currentAttempt(c: ChunkRow, now: number): AttemptBar | undefined {
  if (!c.leaseOwner || c.leasedAt === null) return undefined;
  const outcome: AttemptOutcome =
    c.state === "done"
      ? "done"
      : c.state === "failed"
        ? "failed"
        : c.state === "cancelled"
          ? "cancelled"
          : c.state === "leased"
            ? "running"
            : "waiting";
  const end = c.state === "done" ? (c.doneAt ?? c.updatedAt) : c.state === "leased" ? now : c.updatedAt;
  const detail =
    outcome === "done"
      ? `attempt ${c.attempt}, ${c.wordCount ?? 0} words in ${((c.processingMs ?? 0) / 1000).toFixed(1)} s`
      : (c.lastError ?? `attempt ${c.attempt}`);
  return { chunkId: c.id, chunkIndex: c.index, machineId: c.leaseOwner, start: c.leasedAt, end: Math.max(end, c.leasedAt), outcome, detail };
}

export async function loadEpisodeDetail(id: string, deps: EpisodeDetailDeps, now: number): Promise<EpisodeDetail | undefined> {
  const row = await deps.store.getEpisode(id);
  if (!row) return undefined;
  const db = deps.database.db;
  const link = await db.select().from(episodeLinks).where(eq(episodeLinks.episodeId, id)).get();
  const chunkRows = await deps.store.listChunks(id);
  const byId = new Map(chunkRows.map((c) => [c.id, c]));
  const counts = { total: chunkRows.length, queued: 0, leased: 0, done: 0, failed: 0, cancelled: 0 };
  for (const c of chunkRows) if (c.state in counts) counts[c.state as "queued"] += 1;

  const logged = await deps.attempts.forEpisode(id);
  const attempts: AttemptBar[] = logged.map((a) => ({
    chunkId: a.chunkId,
    chunkIndex: a.chunkIndex,
    machineId: a.machineId,
    start: a.startedAt,
    end: Math.max(a.startedAt, a.endedAt ?? now),
    outcome: barOutcome(a.outcome),
    detail: a.error ?? `attempt ${a.attempt}${a.generation > 1 ? ` (generation ${a.generation})` : ""}`,
  }));
  const seen = new Set(logged.map((a) => a.chunkId));
  for (const c of chunkRows) {
    const bar = seen.has(c.id) ? undefined : currentAttempt(c, now);
    if (bar) attempts.push(bar);
  }
  // Machines that died or went silent holding chunks the log has no rows for: the sweeper's requeue events name them.
  const requeues = await db
    .select({ e: machineEvents, startedAt: machines.startedAt, createdAt: machines.createdAt })
    .from(machineEvents)
    .leftJoin(machines, eq(machines.id, machineEvents.machineId))
    .where(and(eq(machineEvents.kind, "requeue"), like(machineEvents.detail, `%${id}-c%`)))
    .all();
  for (const { e, startedAt, createdAt } of requeues) {
    if (!e.machineId || !e.detail) continue;
    for (const chunkId of e.detail.split(",")) {
      const c = byId.get(chunkId);
      if (!c || seen.has(chunkId)) continue;
      const start = Math.max(startedAt ?? createdAt ?? e.at, row.transcribeStartedAt ?? row.createdAt);
      attempts.push({
        chunkId,
        chunkIndex: c.index,
        machineId: e.machineId,
        start: Math.min(start, e.at),
        end: e.at,
        outcome: "requeued",
        detail: e.reason,
      });
    }
  }
  const from = row.transcribeStartedAt ?? row.createdAt;
  const to = Math.max(row.finishedAt ?? now, ...attempts.map((a) => a.end), from + 1000);

  // Failed attempts (from the log), then chunks with an error the log has no failed attempt for.
  const failedAttempts = logged.filter((a) => a.error !== null && a.outcome !== "done");
  const withFailure = new Set(failedAttempts.map((a) => a.chunkId));
  const failureInputs = [
    ...failedAttempts.map((a) => ({
      chunkId: a.chunkId,
      chunkIndex: a.chunkIndex,
      state: byId.get(a.chunkId)?.state ?? "?",
      machineId: a.machineId,
      attempt: a.attempt,
      at: a.endedAt ?? a.startedAt,
      reason: a.error!,
    })),
    ...chunkRows
      .filter((c) => c.lastError !== null && !withFailure.has(c.id))
      .map((c) => ({
        chunkId: c.id,
        chunkIndex: c.index,
        state: c.state,
        machineId: c.leaseOwner,
        attempt: null,
        at: c.updatedAt,
        reason: c.lastError!,
      })),
  ];
  const failures: ChunkFailure[] = await Promise.all(
    failureInputs.map(async (f) => ({
      ...f,
      logTail: f.machineId && deps.machineLogDir ? await readLogTail(deps.machineLogDir, f.machineId) : null,
    })),
  );

  return {
    row,
    source: sourceOf(row, link?.origin ?? null),
    callbackUrl: link?.callbackUrl ?? null,
    chunks: chunkRows,
    ...progressOf(row, counts, now),
    attempts: attempts.sort((a, b) => a.start - b.start),
    span: { from, to },
    plan: planSpans(parsePlan(row.planJson)),
    failures: failures.sort((a, b) => a.at - b.at),
    deliveries: await deps.deliveries.forEpisode(id),
    // Uploads and decoded audio are deleted once cut; a URL episode is played from where it was fetched.
    audioUrl: row.sourceKind === "url" ? (row.finalUrl ?? row.sourceUrl) : null,
  };
}

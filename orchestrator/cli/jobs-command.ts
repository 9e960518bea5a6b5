/**
 * `podfleet jobs list|show|logs|cancel|retry`. The read-only ones use the running orchestrator,
 * or read the database directly when none runs (offline-episodes.ts): they never start one.
 */
import fs from "node:fs";
import path from "node:path";
import type { EpisodeView } from "../episodes/episode-service.ts";
import { EPISODE_LIST_LIMIT } from "../input-bounds.ts";
import type { DeliveryView } from "../delivery/delivery-service.ts";
import { ApiClientError } from "./api-client.ts";
import { boundedFlag } from "./cli-args.ts";
import { CliError, EXIT } from "./cli-error.ts";
import type { CommandContext } from "./command-action.ts";
import { fetchDeliveries, formatDeliveries } from "./deliveries-view.ts";
import { formatChunkTable, transcriptLinks, type TranscriptLinks } from "./episode-format.ts";
import { table } from "./table.ts";
import { findRunning, localDataDir, openTarget, type Target } from "./target.ts";
import { safeInline, writeHuman, writeJson } from "./terminal-text.ts";

/** `jobs show`'s download line: failed attempts, and the next try or the last reason. */
function describeDownload(d: EpisodeView["download"]): string {
  const tries = `${d.attempts} failed ${d.attempts === 1 ? "attempt" : "attempts"}`;
  if (d.nextAttemptAt) return `${tries}; waiting to retry at ${d.nextAttemptAt} (${d.lastError ?? "transient error"})`;
  return `${tries}${d.lastError ? `; last: ${d.lastError}` : ""}`;
}

/** Runs `fn` against the running orchestrator's API, or against the database when none runs. */
async function readEpisodes<T>(
  ctx: CommandContext,
  fn: (src: {
    target: Target | undefined;
    list(limit: number): Promise<EpisodeView[]>;
    view(id: string): Promise<EpisodeView | undefined>;
  }) => Promise<T>,
): Promise<T> {
  const target = await findRunning(ctx);
  if (target) {
    return fn({
      target,
      list: async (limit) => (await target.api.get<{ episodes: EpisodeView[] }>(`/v1/episodes?limit=${limit}`)).episodes,
      view: (id) => target.api.get<EpisodeView>(`/v1/episodes/${encodeURIComponent(id)}`),
    });
  }
  const { openOfflineEpisodes } = await import("./offline-episodes.ts");
  const offline = await openOfflineEpisodes(ctx);
  try {
    return await fn({ target: undefined, list: (l) => offline.list(l), view: (id) => offline.view(id) });
  } finally {
    offline.close();
  }
}

function notFound(id: string): CliError {
  return new CliError(`no episode ${id}`, EXIT.failed, "not_found");
}

export async function listJobs(ctx: CommandContext): Promise<number> {
  const limit = boundedFlag("limit", ctx.flags.limit as string | undefined, EPISODE_LIST_LIMIT) ?? 50;
  const status = ctx.flags.status as string | undefined; // one of the choices commands/jobs.ts allows
  // a status filter reads the most the API gives, then keeps `limit` of the matches
  const episodes = await readEpisodes(ctx, async (src) =>
    (await src.list(status ? EPISODE_LIST_LIMIT.max : limit)).filter((e) => !status || e.status === status).slice(0, limit),
  );
  if (ctx.json) writeJson(episodes, 2);
  else
    writeHuman(
      table(
        ["ID", "STATUS", "CHUNKS", "DURATION", "CREATED", "TITLE"],
        episodes.map((e) => [
          e.id,
          e.status,
          `${e.chunks.done}/${e.chunks.total}`,
          e.durationSec?.toFixed(0) ?? "-",
          e.timings.createdAt,
          e.title ?? "",
        ]),
      ),
    );
  return 0;
}

export async function showJob(ctx: CommandContext, id: string): Promise<number> {
  const { view, deliveries, links, logDir } = await readEpisodes(ctx, async (src) => {
    const view = await src.view(id).catch((err: unknown) => {
      throw err instanceof ApiClientError && err.status === 404 ? notFound(id) : err;
    });
    if (!view) throw notFound(id);
    const deliveries: DeliveryView[] | null = src.target ? await fetchDeliveries(src.target.api, id) : null;
    const links: TranscriptLinks | null = src.target ? transcriptLinks(src.target.where.url, id) : null;
    const dataDir = src.target ? src.target.where.dataDir : localDataDir(ctx);
    return { view, deliveries, links, logDir: dataDir ? path.join(dataDir, "logs") : null };
  });
  if (ctx.json) {
    writeJson({ ...view, deliveries, links, logDir }, 2);
    return 0;
  }
  const rows: Array<[string, string]> = [
    ["id", view.id],
    ["title", view.title ?? ""],
    ["status", view.status],
    ["error", view.error ?? ""],
    ...(view.download && view.download.attempts > 0 ? [["download", describeDownload(view.download)] as [string, string]] : []),
    ["source", view.source.url ?? view.source.kind],
    ["duration", view.durationSec === null ? "-" : `${view.durationSec.toFixed(1)} s`],
    ...(view.waiting ? ([["waiting", view.waiting.detail]] as Array<[string, string]>) : []),
    [
      "chunks",
      `${view.chunks.done} done, ${view.chunks.leased} running, ${view.chunks.queued} queued, ${view.chunks.failed} failed${view.chunks.cancelled ? `, ${view.chunks.cancelled} cancelled` : ""} of ${view.chunks.total}`,
    ],
    ["created", view.timings.createdAt],
    ["finished", view.timings.finishedAt ?? "-"],
  ];
  if (view.status === "done" && links) {
    rows.push(
      ["transcript", `${links.base}.{txt,srt,vtt,json}`],
      ["rss", `${links.podcastTranscript} (the <podcast:transcript> tags for the feed item)`],
    );
  } else if (view.status === "done") {
    rows.push(["transcript", `served by the orchestrator once it runs: /v1/episodes/${view.id}/transcript.{txt,srt,vtt,json}`]);
  }
  if (logDir) rows.push(["logs", `${logDir} (machine logs: podfleet jobs logs ${view.id})`]);
  // one line per field: a newline inside a title must not forge another field
  writeHuman(rows.map(([k, v]) => `${k.padEnd(10)} ${safeInline(v)}`).join("\n") + "\n");
  if (view.chunkList && view.chunkList.length > 0) writeHuman("\n" + formatChunkTable(view.chunkList));
  if (deliveries) writeHuman(formatDeliveries(deliveries));
  return 0;
}

/** The last `lines` lines of a file, or null when it cannot be read. */
function tail(file: string, lines: number): string[] | null {
  try {
    return fs.readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines);
  } catch {
    return null;
  }
}

export async function jobLogs(ctx: CommandContext, id: string): Promise<number> {
  const lines = boundedFlag("lines", ctx.flags.lines as string | undefined, { min: 1, max: 10_000, integer: true }) ?? 20;
  const { view, dataDir } = await readEpisodes(ctx, async (src) => {
    const view = await src.view(id).catch((err: unknown) => {
      throw err instanceof ApiClientError && err.status === 404 ? notFound(id) : err;
    });
    if (!view) throw notFound(id);
    return { view, dataDir: src.target ? src.target.where.dataDir : localDataDir(ctx) };
  });
  const byMachine = new Map<string, number[]>();
  for (const c of view.chunkList ?? []) if (c.machineId) byMachine.set(c.machineId, [...(byMachine.get(c.machineId) ?? []), c.index]);
  const logs = [...byMachine].map(([machineId, chunks]) => {
    const file = dataDir ? path.join(dataDir, "logs", "machines", `${machineId}.log`) : null;
    return { machineId, chunks, path: file, tail: file ? tail(file, lines) : null };
  });
  const orchestratorLog = dataDir ? path.join(dataDir, "logs", "orchestrator.log") : null;
  if (ctx.json) {
    writeJson({ episodeId: view.id, orchestratorLog, machines: logs }, 2);
    return 0;
  }
  if (logs.length === 0) writeHuman(`no machine has worked on ${view.id} yet\n`);
  for (const l of logs) {
    writeHuman(`== machine ${l.machineId} (chunks ${l.chunks.join(", ")}): ${l.path ?? "not on this host"}\n`);
    if (l.tail) writeHuman(l.tail.map((x) => `  ${safeInline(x)}`).join("\n") + "\n");
    else writeHuman("  (no log here: a Fly machine's log is in `fly logs -i MACHINE`; a local one is under the orchestrator's data directory)\n");
  }
  if (orchestratorLog)
    writeHuman(`orchestrator log: ${orchestratorLog}${fs.existsSync(orchestratorLog) ? "" : " (podfleet up logs to its stderr instead)"}\n`);
  return 0;
}

export async function cancelOrRetry(ctx: CommandContext, sub: "cancel" | "retry", id: string): Promise<number> {
  const target = await openTarget(ctx);
  try {
    const p = `/v1/episodes/${encodeURIComponent(id)}`;
    type Retried = EpisodeView & { requeuedChunks?: number; redownload?: boolean };
    const view = sub === "cancel" ? await target.api.delete<Retried>(p) : await target.api.post<Retried>(`${p}/retry`, {});
    if (ctx.json) writeJson(view, 2);
    else if (sub === "cancel") writeHuman(`cancelled ${view.id}\n`);
    else if (view.redownload) writeHuman(`retrying ${view.id}: downloading ${view.source.url ?? "it"} again, status ${view.status}\n`);
    else writeHuman(`retrying ${view.id}: ${view.requeuedChunks ?? 0} chunk(s) queued again, status ${view.status}\n`);
    return 0;
  } finally {
    await target.close();
  }
}

/**
 * `podfleet transcribe <url-or-path> --out DIR`: submit an episode, follow it through its phases
 * (progress.ts) until it is done, failed or cancelled, and write the four transcript files. Errors
 * name the user's own file (never the server's upload path) and say where the logs are; at the
 * end it prints the transcript's first lines and where everything went.
 */
import fs from "node:fs";
import path from "node:path";
import type { EpisodeView } from "../episodes/episode-service.ts";
import type { FleetView } from "../fleet/fleet-view.ts";
import { CHUNK_SECONDS } from "../input-bounds.ts";
import { TRANSCRIPT_FORMATS, type TranscriptFormat } from "../transcript/formats.ts";
import { ApiClientError, type ApiClient } from "./api-client.ts";
import { boundedFlag } from "./cli-args.ts";
import { CliError, EXIT } from "./cli-error.ts";
import type { CommandContext } from "./command-action.ts";
import { transcriptLinks, type TranscriptLinks } from "./episode-format.ts";
import { estimateEta, TranscribeProgress, type Phase, type ProgressSnapshot } from "./progress.ts";
import { openTarget, type Target } from "./target.ts";
import { safeInline, writeHuman, writeJson } from "./terminal-text.ts";

export interface TranscribeSummary {
  episodeId: string;
  status: string;
  engine: string | null;
  durationSec: number | null;
  chunks: number;
  wallMs: number;
  files: Record<TranscriptFormat, string>;
  /** Where the orchestrator serves the transcript; null when it was an embedded one, gone now. */
  links: TranscriptLinks | null;
  logDir: string | null;
}

const POLL_MS = 300;
/** How often the fleet is asked how many machines are booting. */
const FLEET_POLL_MS = 1_000;
/** Consecutive failed polls (connection refused or reset) tolerated before giving up. */
const POLL_RETRIES = 5;

/** Reads `path`, riding out a few dropped connections (a reset keep-alive socket, a busy host). */
async function pollGet<T>(api: ApiClient, p: string): Promise<T> {
  for (let failures = 0; ; failures++) {
    try {
      return await api.get<T>(p);
    } catch (err) {
      if (!(err instanceof ApiClientError && err.code === "unreachable") || failures >= POLL_RETRIES) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

function phaseOf(view: EpisodeView): Phase {
  if (view.status === "received" || view.status === "ingesting" || view.status === "fetch_wait") return "ingesting";
  const c = view.chunks;
  if (c.total > 0 && c.done === c.total) return "stitching";
  if (view.waiting) return "waiting";
  if (c.leased > 0 || c.done > 0) return "running";
  return "queued";
}

function booting(fleet: FleetView | undefined): number {
  if (!fleet) return 0;
  const s = fleet.machines.byState;
  return (s.created ?? 0) + (s.starting ?? 0);
}

/** The server's name for an upload (`…/<id>.upload`) replaced by the file the user gave. */
export function inUserTerms(message: string, episodeId: string, userFile: string | undefined): string {
  if (!userFile || !/^[\w-]+$/.test(episodeId)) return message;
  return message.replace(new RegExp(`\\S*${episodeId}\\.upload`, "g"), userFile);
}

export async function transcribeCommand(ctx: CommandContext, input: string): Promise<number> {
  const outDir = ctx.flags.out as string;
  const chunkSeconds = boundedFlag("chunk-seconds", ctx.flags["chunk-seconds"] as string | undefined, CHUNK_SECONDS);
  const title = ctx.flags.title as string | undefined;
  const isUrl = /^https?:\/\//i.test(input);
  if (!isUrl && !fs.existsSync(input)) throw new CliError(`no such file: ${input}`, EXIT.failed, "no_such_file");
  if (!isUrl && !fs.statSync(input).isFile()) throw new CliError(`not a file: ${input}`, EXIT.failed, "not_a_file");
  fs.mkdirSync(outDir, { recursive: true });

  const started = Date.now();
  const progress = new TranscribeProgress(process.stderr, Math.max(250, Number(ctx.env.PODFLEET_PROGRESS_INTERVAL_SEC ?? 5) * 1000 || 5_000));
  progress.update({ phase: "starting", chunks: { total: 0, done: 0, running: 0, queued: 0, failed: 0 }, booting: 0, etaSec: null });
  const target = await openTarget(ctx);
  const logDir = target.where.dataDir ? path.join(target.where.dataDir, "logs") : null;
  let episodeId: string | undefined;
  try {
    const query = new URLSearchParams();
    if (chunkSeconds !== undefined) query.set("chunkSeconds", String(chunkSeconds));
    if (title) query.set("title", title);
    if (!isUrl) progress.update({ phase: "uploading", chunks: { total: 0, done: 0, running: 0, queued: 0, failed: 0 }, booting: 0, etaSec: null });
    const submitted = isUrl
      ? await target.api.post<{ id: string }>("/v1/episodes", {
          audioUrl: input,
          ...(title ? { title } : {}),
          ...(chunkSeconds !== undefined ? { chunkSeconds } : {}),
        })
      : await target.api.upload<{ id: string }>(`/v1/episodes?${query.toString()}`, input);
    episodeId = submitted.id;
    const view = await follow(target, submitted.id, progress);
    progress.finish();
    const where = `see podfleet jobs show ${view.id}${logDir ? `; logs in ${logDir}` : ""}`;
    if (view.status === "cancelled")
      throw new CliError(`episode ${view.id} was cancelled (${where})`, EXIT.failed, "cancelled", { episodeId: view.id, logDir });
    if (view.status === "failed") {
      const reason = inUserTerms(view.error ?? "unknown error", view.id, isUrl ? undefined : input);
      throw new CliError(`episode ${view.id} failed: ${reason} (${where})`, EXIT.failed, "episode_failed", { episodeId: view.id, logDir });
    }
    const files = {} as Record<TranscriptFormat, string>;
    for (const format of Object.keys(TRANSCRIPT_FORMATS) as TranscriptFormat[]) {
      const body = await target.api.text(`/v1/episodes/${view.id}/transcript.${format}`);
      const file = path.resolve(outDir, `transcript.${format}`);
      fs.writeFileSync(file, body);
      files[format] = file;
    }
    const summary: TranscribeSummary = {
      episodeId: view.id,
      status: view.status,
      engine: target.where.engine ?? null,
      durationSec: view.durationSec,
      chunks: view.chunks.total,
      wallMs: Date.now() - started,
      files,
      links: target.embedded ? null : transcriptLinks(target.where.url, view.id),
      logDir,
    };
    if (ctx.json) writeJson(summary);
    else writeHuman(describeSummary(summary, fs.readFileSync(files.txt, "utf8")));
    return 0;
  } catch (err) {
    progress.finish();
    // an API refusal of the upload names the user's file, not the server's temporary one
    if (err instanceof ApiClientError && episodeId)
      throw new ApiClientError(err.status, err.code, inUserTerms(err.message, episodeId, isUrl ? undefined : input));
    throw err;
  } finally {
    await target.close();
  }
}

/** Polls the episode (and the fleet, less often) until it is done, failed or cancelled. */
async function follow(target: Target, id: string, progress: TranscribeProgress): Promise<EpisodeView> {
  let said: string | null = null;
  let fleet: FleetView | undefined;
  let fleetAt = 0;
  for (;;) {
    const view = await pollGet<EpisodeView>(target.api, `/v1/episodes/${id}`);
    if (view.status === "done" || view.status === "failed" || view.status === "cancelled") return view;
    // why nothing moves (workers failing to boot, budget spent): one line per new reason, not a silent wait
    const waiting = view.waiting ?? null;
    if ((waiting?.cause ?? null) !== said) {
      if (waiting) progress.note(`waiting: ${waiting.detail}`);
      said = waiting?.cause ?? null;
    }
    if (Date.now() - fleetAt >= FLEET_POLL_MS) {
      fleet = await target.api.get<FleetView>("/v1/fleet").catch(() => fleet);
      fleetAt = Date.now();
    }
    const doneMs = (view.chunkList ?? []).flatMap((c) => (c.state === "done" && c.processingMs !== null ? [c.processingMs] : []));
    const c = view.chunks;
    const snapshot: ProgressSnapshot = {
      phase: phaseOf(view),
      chunks: { total: c.total, done: c.done, running: c.leased, queued: c.queued, failed: c.failed },
      booting: booting(fleet),
      etaSec: estimateEta(doneMs, c.queued, c.leased),
    };
    progress.update(snapshot);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function describeSummary(s: TranscribeSummary, text: string): string {
  const first = text
    .split("\n")
    .filter((l) => l.trim())
    .slice(0, 3);
  const lines = [
    `transcribed ${s.durationSec?.toFixed(1) ?? "?"} s of audio in ${(s.wallMs / 1000).toFixed(1)} s (${s.chunks} chunks${s.engine ? `, engine ${s.engine}` : ""})`,
    ...(first.length ? ["", ...first.map((l) => `  | ${safeInline(l.length > 160 ? `${l.slice(0, 157)}...` : l)}`), ""] : []),
    `transcript written to ${s.files.txt.replace(/transcript\.txt$/, "")}transcript.{txt,srt,vtt,json}`,
    ...(s.links ? [`served at ${s.links.base}.{txt,srt,vtt,json}`, `feed snippet ${s.links.podcastTranscript}`] : []),
    `episode ${s.episodeId}${s.logDir ? `; logs in ${s.logDir}` : ""}`,
  ];
  return lines.join("\n") + "\n";
}

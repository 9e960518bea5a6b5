/**
 * `podfleet transcribe <url-or-path> --out DIR`: submit an episode, follow it to the end with a
 * progress bar, and write the four transcript files.
 */
import fs from "node:fs";
import path from "node:path";
import type { EpisodeView } from "../episodes/episode-service.ts";
import { TRANSCRIPT_FORMATS, type TranscriptFormat } from "../transcript/formats.ts";
import { ApiClientError, type ApiClient } from "./api-client.ts";
import { CliError } from "./cli-error.ts";
import { ProgressBar } from "./progress.ts";
import { openTarget } from "./target.ts";

export interface TranscribeArgs {
  input: string;
  outDir: string;
  chunkSeconds: number | undefined;
  title: string | undefined;
  json: boolean;
  dataDir: string | undefined;
}

export interface TranscribeSummary {
  episodeId: string;
  status: string;
  durationSec: number | null;
  chunks: number;
  wallMs: number;
  files: Record<TranscriptFormat, string>;
}

const POLL_MS = 300;
/** Consecutive failed polls (connection refused or reset) tolerated before giving up. */
const POLL_RETRIES = 5;

/** Reads the episode, riding out a few dropped connections (a reset keep-alive socket, a busy host). */
async function pollView(api: ApiClient, id: string): Promise<EpisodeView> {
  for (let failures = 0; ; failures++) {
    try {
      return await api.get<EpisodeView>(`/v1/episodes/${id}`);
    } catch (err) {
      if (!(err instanceof ApiClientError && err.code === "unreachable") || failures >= POLL_RETRIES) throw err;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

export async function transcribe(args: TranscribeArgs, env: NodeJS.ProcessEnv): Promise<TranscribeSummary> {
  const isUrl = /^https?:\/\//i.test(args.input);
  if (!isUrl && !fs.existsSync(args.input)) throw new CliError(`no such file: ${args.input}`);
  if (!isUrl && !fs.statSync(args.input).isFile()) throw new CliError(`not a file: ${args.input}`);
  fs.mkdirSync(args.outDir, { recursive: true });

  const started = Date.now();
  const target = await openTarget(env, args.dataDir);
  try {
    const query = new URLSearchParams();
    if (args.chunkSeconds !== undefined) query.set("chunkSeconds", String(args.chunkSeconds));
    if (args.title) query.set("title", args.title);
    const submitted = isUrl
      ? await target.api.post<{ id: string }>("/v1/episodes", {
          audioUrl: args.input,
          ...(args.title ? { title: args.title } : {}),
          ...(args.chunkSeconds !== undefined ? { chunkSeconds: args.chunkSeconds } : {}),
        })
      : await target.api.upload<{ id: string }>(`/v1/episodes?${query.toString()}`, args.input);

    const bar = new ProgressBar();
    let view: EpisodeView;
    let said: string | null = null;
    for (;;) {
      view = await pollView(target.api, submitted.id);
      // why nothing moves (workers failing to boot, budget spent): one line per new reason, not a silent wait
      const waiting = view.waiting ?? null;
      if ((waiting?.cause ?? null) !== said) {
        if (waiting) bar.note(`waiting: ${waiting.detail}`);
        said = waiting?.cause ?? null;
      }
      bar.update(waiting ? "waiting" : view.status, view.chunks.done, view.chunks.total);
      if (view.status === "done" || view.status === "failed") break;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
    bar.finish();
    if (view.status === "failed") throw new CliError(`episode ${view.id} failed: ${view.error ?? "unknown error"}`);

    const files = {} as Record<TranscriptFormat, string>;
    for (const format of Object.keys(TRANSCRIPT_FORMATS) as TranscriptFormat[]) {
      const body = await target.api.text(`/v1/episodes/${view.id}/transcript.${format}`);
      const file = path.resolve(args.outDir, `transcript.${format}`);
      fs.writeFileSync(file, body);
      files[format] = file;
    }
    return { episodeId: view.id, status: view.status, durationSec: view.durationSec, chunks: view.chunks.total, wallMs: Date.now() - started, files };
  } finally {
    await target.close();
  }
}

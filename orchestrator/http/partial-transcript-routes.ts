/**
 * Progressive results over HTTP (transcript/partial-transcript.ts):
 *
 * - `GET /v1/episodes/:id/partial-transcript.{txt,srt,vtt,json}`: the transcript of the chunks
 *   finished so far, in order, in the same formats as the final one. Marked partial until the
 *   episode is done: header `X-Transcript-Partial: true` (with `X-Transcript-Chunks: done/total`
 *   and `X-Transcript-Through: seconds`), the JSON's `partial`, `status`, `chunksDone`,
 *   `chunkCount` and `throughSec`, and a `NOTE` block in WebVTT.
 * - `GET /v1/episodes/:id/transcript-stream`: server-sent events. Each caption segment once, in
 *   order, as soon as it is final (`event: segment`, `id:` its index from 0, data: the JSON
 *   transcript's segment plus `index`), then `event: done` (data: `{status, segments}`) when the
 *   episode is done, failed or cancelled, and the stream ends. A client that reconnects with
 *   `Last-Event-ID: N` (browsers' EventSource do) gets the segments after N.
 *
 * Both need the admin token, like every other episode route. The stream is woken by the chunk and
 * episode state events (events/state-events.ts), never by polling.
 */
import { z } from "zod";
import { streamSSE, type SSEStreamingApi } from "hono/streaming";
import type { EpisodeService } from "../episodes/episode-service.ts";
import { isTerminalEpisode } from "../episodes/lifecycle.ts";
import type { StateEvents } from "../events/state-events.ts";
import type { Logger } from "../log.ts";
import { TRANSCRIPT_FORMATS, formatTimestamp, podcastJson, type TranscriptFormat } from "../transcript/formats.ts";
import type { PartialTranscript, PartialTranscripts, TranscriptSegment } from "../transcript/partial-transcript.ts";
import { ApiError } from "./api-error.ts";
import { errors, route, type ApiRoute } from "./api-route.ts";

export interface PartialTranscriptRouteDeps {
  partials: PartialTranscripts;
  /** The final transcript files, which the stream's last segments come from once the episode is done. */
  episodes: Pick<EpisodeService, "transcript">;
  events: StateEvents;
  log: Logger;
  /** A comment line this often keeps proxies from closing a quiet stream (default 15 s). */
  keepAliveMs?: number;
}

/**
 * Both routes, as a route module for createApi (api.ts). `close` ends every open segment stream
 * (without a done event: the client reconnects with Last-Event-ID to whoever serves next); call it
 * before the server closes, which otherwise waits for those connections.
 */
export function partialTranscriptRoutes(deps: PartialTranscriptRouteDeps): { routes: ApiRoute[]; close(): void } {
  const open = new Set<Wakeup>();
  let closing = false;
  const documents = (Object.keys(TRANSCRIPT_FORMATS) as TranscriptFormat[]).map((format) =>
    route({
      method: "get",
      path: `/v1/episodes/{id}/partial-transcript.${format}`,
      access: "admin",
      tag: "transcripts",
      summary: `the transcript of the chunks finished so far as ${format}, marked partial (X-Transcript-Partial) until the episode is done`,
      responses: {
        200: { description: "the partial transcript", content: { [TRANSCRIPT_FORMATS[format].contentType.split(";")[0]!]: { schema: z.string() } } },
        ...errors({ 401: "no admin token", 404: "no such episode" }),
      },
      handler: async (c) => {
        const id = c.req.param("id")!;
        const partial = await deps.partials.read(id);
        if (!partial) throw new ApiError(404, "not_found", `no episode ${id}`);
        return c.body(renderPartial(partial, format), 200, {
          "content-type": TRANSCRIPT_FORMATS[format].contentType,
          "cache-control": "no-store",
          "x-transcript-partial": String(!partial.complete),
          "x-transcript-chunks": `${partial.chunksDone}/${partial.chunkCount ?? "?"}`,
          "x-transcript-through": partial.throughSec.toFixed(3),
        });
      },
    }),
  );

  const stream = route({
    method: "get",
    path: "/v1/episodes/{id}/transcript-stream",
    access: "admin",
    tag: "transcripts",
    summary: "server-sent events: each caption segment once, in order, as soon as it is final, then `done`; resumable with Last-Event-ID",
    responses: {
      200: { description: "an event stream (`segment` events, then `done`)", content: { "text/event-stream": { schema: z.string() } } },
      ...errors({ 400: "a Last-Event-ID that is not a segment id", 401: "no admin token", 404: "no such episode", 503: "shutting down" }),
    },
    handler: async (c) => {
      const id = c.req.param("id")!;
      const lastId = c.req.header("last-event-id");
      if (lastId !== undefined && !/^(?:-1|\d{1,9})$/.test(lastId.trim())) {
        throw new ApiError(400, "invalid_request", "Last-Event-ID: must be the id of a segment event (a whole number)");
      }
      // Subscribe before the first read, so a chunk finishing in between still wakes the loop.
      if (closing) throw new ApiError(503, "shutting_down", "the orchestrator is shutting down; reconnect shortly");
      const wake = new Wakeup();
      const unsubscribe = [
        deps.events.on("chunk:transition", (e) => e.episodeId === id && e.to === "done" && wake.fire()),
        deps.events.on("episode:transition", (e) => e.episodeId === id && wake.fire()),
      ];
      const first = await deps.partials.read(id).catch((err: unknown) => {
        for (const off of unsubscribe) off();
        throw err;
      });
      if (!first) {
        for (const off of unsubscribe) off();
        throw new ApiError(404, "not_found", `no episode ${id}`);
      }
      return streamSSE(c, async (sse) => {
        sse.onAbort(() => wake.fire());
        open.add(wake);
        try {
          await streamSegments(sse, id, first, lastId === undefined ? 0 : Number(lastId) + 1, wake, deps);
        } catch (err) {
          deps.log.warn("transcript stream ended by an error", { episodeId: id, error: err });
        } finally {
          open.delete(wake);
          for (const off of unsubscribe) off();
        }
      });
    },
  });

  return {
    routes: [...documents, stream],
    close: () => {
      closing = true;
      for (const wake of open) wake.stop();
    },
  };
}

/** Sends segments from `from` on as they become final, then `done`; returns when done or aborted. */
async function streamSegments(
  stream: SSEStreamingApi,
  id: string,
  first: PartialTranscript,
  from: number,
  wake: Wakeup,
  deps: PartialTranscriptRouteDeps,
): Promise<void> {
  let sent = from;
  let current: PartialTranscript | undefined = first;
  const send = async (segments: readonly TranscriptSegment[], upTo: number): Promise<void> => {
    for (; sent < upTo && !stream.aborted; sent++) {
      await stream.writeSSE({ event: "segment", id: String(sent), data: JSON.stringify({ index: sent, ...segments[sent]! }) });
    }
  };
  while (!stream.aborted && !wake.stopped) {
    if (!current) return; // the episode is gone
    if (isTerminalEpisode(current.status)) {
      const segments = current.status === "done" ? await finalSegments(id, current, deps) : current.segments;
      await send(segments, current.status === "done" ? segments.length : current.stableSegments);
      await stream.writeSSE({ event: "done", data: JSON.stringify({ status: current.status, segments: sent }) });
      return;
    }
    // a state event that arrives while this sends is kept by `wake` and ends the wait at once
    const pending = wake.next(deps.keepAliveMs ?? 15_000);
    await send(current.segments, current.stableSegments);
    if ((await pending) === "timeout" && !stream.aborted && !wake.stopped) await stream.write(": keep-alive\n\n");
    if (stream.aborted || wake.stopped) return;
    current = await deps.partials.read(id);
  }
}

/** The done episode's segments as its stored JSON transcript has them (the stitched ones if it is missing). */
async function finalSegments(id: string, partial: PartialTranscript, deps: PartialTranscriptRouteDeps): Promise<readonly TranscriptSegment[]> {
  const bytes = await deps.episodes.transcript(id, "json");
  if (!bytes) return partial.segments;
  const doc = JSON.parse(Buffer.from(bytes).toString("utf8")) as { segments: TranscriptSegment[] };
  return doc.segments;
}

/** The partial transcript in `format`, marked partial where the format has room for it. */
function renderPartial(p: PartialTranscript, format: TranscriptFormat): string {
  const options = { language: p.language };
  if (format === "json") {
    const progress = { partial: !p.complete, status: p.status, chunksDone: p.chunksDone, chunkCount: p.chunkCount, throughSec: p.throughSec };
    return JSON.stringify({ ...podcastJson(p.words, options), ...progress });
  }
  const text = TRANSCRIPT_FORMATS[format].render(p.words, options);
  if (format !== "vtt" || p.complete) return text;
  const note = `NOTE partial transcript (episode ${p.status}): chunks ${p.chunksDone} of ${p.chunkCount ?? "?"} done, through ${formatTimestamp(p.throughSec, ".")}\n`;
  return text.replace(/^WEBVTT\n/, `WEBVTT\n\n${note}`);
}

/** A one-slot signal: `fire()` wakes the current (or next) `next()`; `next` also ends at a timeout. */
class Wakeup {
  #fired = false;
  #resolve: ((why: "fired" | "timeout") => void) | undefined;
  /** Set by `stop()`: the stream ends at its next turn. */
  stopped = false;

  stop(): void {
    this.stopped = true;
    this.fire();
  }

  fire(): void {
    this.#fired = true;
    this.#resolve?.("fired");
  }

  next(timeoutMs: number): Promise<"fired" | "timeout"> {
    if (this.#fired) {
      this.#fired = false;
      return Promise.resolve("fired");
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish("timeout"), timeoutMs).unref();
      const finish = (why: "fired" | "timeout"): void => {
        clearTimeout(timer);
        this.#fired = false;
        this.#resolve = undefined;
        resolve(why);
      };
      this.#resolve = finish;
    });
  }
}

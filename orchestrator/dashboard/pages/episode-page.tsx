/**
 * One episode: facts and actions, the transcript with an audio player (cues follow playback; a
 * cue is a button that seeks), the chunk timeline and audio plan, failures with the reason and
 * the machine's log tail, and callback deliveries with resend.
 */
import type { EpisodeDetail } from "../episode-detail.ts";
import { AudioPlanStrip, ChunkTimeline } from "./chunk-timeline.tsx";
import { ActionForm, formatRelative, formatSeconds, formatTime, Layout, StatusBadge } from "./layout.tsx";

const CANCELLABLE = new Set(["received", "ingesting", "fetch_wait", "transcribing", "stitching"]);

export function EpisodePage(props: { csrf: string; d: EpisodeDetail; now: number; partialUrl: string | null }) {
  const { d, csrf, now } = props;
  const e = d.row;
  const name = e.title || e.id;
  const planned = e.chunkCount ?? d.chunks.length;
  const done = d.chunks.filter((c) => c.state === "done").length;
  return (
    <Layout title={name} nav="episodes" csrf={csrf}>
      <section id="facts" data-live="true" data-status={e.status} class="panel facts" aria-label="Episode facts">
        <dl>
          <dt>Status</dt>
          <dd>
            <StatusBadge status={e.status} />
            {e.error ? <span class="error-text"> {e.error}</span> : null}
          </dd>
          <dt>Source</dt>
          <dd>
            {d.source}
            {e.sourceUrl ? <span class="mono"> {e.sourceUrl}</span> : null}
          </dd>
          <dt>Progress</dt>
          <dd>
            {planned ? (
              <>
                <progress max={planned} value={done} aria-label={`${done} of ${planned} chunks done`}></progress> {done}/{planned} chunks
                {d.etaSec !== null ? `, ETA ${formatSeconds(d.etaSec)}` : ""}
              </>
            ) : (
              "not cut yet"
            )}
          </dd>
          <dt>Audio</dt>
          <dd>
            {formatSeconds(e.durationSec)} · {e.language}
          </dd>
          <dt>Wall time</dt>
          <dd>
            {formatSeconds(((e.finishedAt ?? now) - e.createdAt) / 1000)} (submitted {formatTime(e.createdAt)})
          </dd>
        </dl>
        <div class="actions">
          {CANCELLABLE.has(e.status) ? (
            <ActionForm action={`/ui/episodes/${e.id}/cancel`} csrf={csrf} label="Cancel episode" confirm={`Cancel ${name}?`} />
          ) : null}
          {e.status === "failed" ? <ActionForm action={`/ui/episodes/${e.id}/retry`} csrf={csrf} label="Retry episode" /> : null}
          {e.status === "done" ? (
            <span class="downloads">
              Transcript: <a href={`/v1/episodes/${e.id}/transcript.txt`}>txt</a> <a href={`/v1/episodes/${e.id}/transcript.srt`}>srt</a>{" "}
              <a href={`/v1/episodes/${e.id}/transcript.vtt`}>vtt</a> <a href={`/v1/episodes/${e.id}/transcript.json`}>json</a>
            </span>
          ) : null}
        </div>
      </section>

      <section aria-labelledby="tr-h" class="panel transcript" id="transcript" data-episode={e.id} data-partial-url={props.partialUrl ?? undefined}>
        <h2 id="tr-h">Transcript</h2>
        {d.audioUrl ? (
          <audio id="player" controls preload="metadata" src={d.audioUrl} aria-label="Episode audio"></audio>
        ) : (
          <p class="hint">No audio to play: the orchestrator deletes an uploaded file once it is cut (it keeps no copy of the audio).</p>
        )}
        <p id="transcript-state" class="hint" aria-live="polite">
          {e.status === "done" ? "Loading the transcript…" : "The transcript appears here as chunks finish."}
        </p>
        <ol id="cues" class="cues" aria-label="Transcript cues: select one to play from there"></ol>
      </section>

      <section aria-labelledby="tl-h" class="panel" id="timeline" data-live="true">
        <h2 id="tl-h">Chunk timeline</h2>
        <ChunkTimeline attempts={d.attempts} span={d.span} />
        <AudioPlanStrip plan={d.plan} durationSec={e.durationSec} />
      </section>

      <section aria-labelledby="fail-h" class="panel" id="failures" data-live="true">
        <h2 id="fail-h">Failures</h2>
        {d.failures.length === 0 ? (
          <p class="empty">No chunk has failed.</p>
        ) : (
          // the earliest failure is usually the cause, and a chunk that is failed for good shows why
          d.failures.map((f, i) => (
            <article class="failure">
              <h3>
                Chunk {f.chunkIndex}
                {f.attempt !== null ? `, attempt ${f.attempt}` : ""} <StatusBadge status={f.state} />{" "}
                {f.machineId ? <span class="mono">on {f.machineId}</span> : null} <span class="hint">{formatTime(f.at)}</span>
              </h3>
              <p class="error-text">{f.reason}</p>
              {f.logTail !== null ? (
                <details open={i === 0 || f.state === "failed"}>
                  <summary>Machine log (last lines)</summary>
                  <pre class="log" tabindex={0}>
                    {f.logTail || "(empty)"}
                  </pre>
                </details>
              ) : (
                <p class="hint">No machine log here (machines on Fly log to Fly).</p>
              )}
            </article>
          ))
        )}
      </section>

      <section aria-labelledby="dl-h" class="panel" id="deliveries" data-live="true">
        <h2 id="dl-h">Callback deliveries</h2>
        {d.deliveries.length === 0 ? (
          <p class="empty">
            {d.callbackUrl ? `None yet: a callback to ${d.callbackUrl} is sent when the episode ends.` : "No callback URL for this episode."}
          </p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">URL</th>
                <th scope="col">State</th>
                <th scope="col">Attempts</th>
                <th scope="col">
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {d.deliveries.map((v) => {
                const last = v.attempts[v.attempts.length - 1];
                return (
                  <tr>
                    <td>{v.event}</td>
                    <td class="mono">{v.url}</td>
                    <td>
                      <StatusBadge status={v.state} />
                      {v.nextAttemptAt ? ` next ${formatRelative(Date.parse(v.nextAttemptAt), now)}` : ""}
                    </td>
                    <td>
                      {v.attempts.length}
                      {last ? ` (last: ${last.httpStatus ?? last.error ?? "?"})` : ""}
                    </td>
                    <td>
                      <ActionForm action={`/ui/deliveries/${v.id}/resend`} csrf={csrf} label="Resend" ariaLabel={`Resend ${v.event}`} />
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
      </section>
    </Layout>
  );
}

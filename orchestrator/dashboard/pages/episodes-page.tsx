/**
 * The episodes page (`/`): submit by URL or upload, filter by status, and a live table with each
 * episode's source, status, progress (chunk counts, ETA), audio length and wall time, with cancel
 * and retry where they apply.
 */
import { EPISODE_STATES } from "../../episodes/lifecycle.ts";
import type { EpisodeLine } from "../episode-rows.ts";
import { ActionForm, formatSeconds, Layout, StatusBadge } from "./layout.tsx";

const CANCELLABLE = new Set(["received", "ingesting", "fetch_wait", "transcribing", "stitching"]);

export function EpisodesPage(props: { csrf: string; lines: EpisodeLine[]; status: string | undefined }) {
  return (
    <Layout title="Episodes" nav="episodes" csrf={props.csrf}>
      <section aria-labelledby="submit-h" class="panel submit">
        <h2 id="submit-h">Submit an episode</h2>
        <form method="post" action="/ui/episodes" class="action" id="submit-url" data-reset="true">
          <input type="hidden" name="_csrf" value={props.csrf} />
          <label>
            Audio URL
            <input type="url" name="audioUrl" required placeholder="https://example.com/episode.mp3" />
          </label>
          <label>
            Title <span class="hint">(optional)</span>
            <input type="text" name="title" maxlength={500} />
          </label>
          <label>
            Chunk seconds <span class="hint">(optional, 0 or 1–3600)</span>
            <input type="text" name="chunkSeconds" inputmode="decimal" size={6} />
          </label>
          <label>
            Language <span class="hint">(optional, e.g. en, de)</span>
            <input type="text" name="language" size={6} />
          </label>
          <button type="submit">Submit URL</button>
        </form>
        <form method="post" action="/ui/episodes/upload" enctype="multipart/form-data" class="upload" id="submit-upload">
          <input type="hidden" name="_csrf" value={props.csrf} />
          <label>
            Audio file
            <input type="file" name="file" accept="audio/*,video/*" required />
          </label>
          <label>
            Title <span class="hint">(optional)</span>
            <input type="text" name="title" maxlength={500} />
          </label>
          <button type="submit">Upload</button>
        </form>
      </section>

      <section aria-labelledby="list-h" class="panel">
        <h2 id="list-h">Recent episodes</h2>
        <form method="get" action="/" class="filter">
          <label>
            Status
            <select name="status" data-autosubmit="true">
              <option value="">all</option>
              {EPISODE_STATES.map((s) => (
                <option value={s} selected={props.status === s}>
                  {s.replace("_", " ")}
                </option>
              ))}
            </select>
          </label>
          <button type="submit">Filter</button>
        </form>
        <div id="episodes" data-live="true">
          {props.lines.length === 0 ? (
            <p class="empty">No episodes{props.status ? ` with status ${props.status}` : ""} yet.</p>
          ) : (
            <table class="episodes">
              <thead>
                <tr>
                  <th scope="col">Title</th>
                  <th scope="col">Source</th>
                  <th scope="col">Status</th>
                  <th scope="col">Progress</th>
                  <th scope="col">Audio</th>
                  <th scope="col">Wall time</th>
                  <th scope="col">
                    <span class="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {props.lines.map((e) => (
                  <EpisodeRowView e={e} csrf={props.csrf} />
                ))}
              </tbody>
            </table>
          )}
        </div>
      </section>
    </Layout>
  );
}

function EpisodeRowView(props: { e: EpisodeLine; csrf: string }) {
  const e = props.e;
  const pct = e.progress === null ? null : Math.round(e.progress * 100);
  return (
    <tr id={`ep-${e.id}`} data-status={e.status}>
      <th scope="row">
        <a href={`/ui/episodes/${e.id}`}>{e.title || e.id}</a>
        {e.error ? <div class="error-text">{e.error}</div> : null}
      </th>
      <td>{e.source}</td>
      <td>
        <StatusBadge status={e.status} />
      </td>
      <td class="progress-cell">
        {pct === null ? (
          "–"
        ) : (
          <>
            <progress max={100} value={pct} aria-label={`${e.title || e.id}: ${pct}% transcribed`}>
              {pct}%
            </progress>
            <span class="counts">
              {e.chunks.done}/{e.chunks.total} chunks
              {e.chunks.failed > 0 ? `, ${e.chunks.failed} failed` : ""}
              {e.etaSec !== null ? `, ETA ${formatSeconds(e.etaSec)}` : ""}
            </span>
          </>
        )}
      </td>
      <td>{formatSeconds(e.durationSec)}</td>
      <td>{formatSeconds(e.wallMs / 1000)}</td>
      <td class="actions">
        {CANCELLABLE.has(e.status) ? (
          <ActionForm
            action={`/ui/episodes/${e.id}/cancel`}
            csrf={props.csrf}
            label="Cancel"
            ariaLabel={`Cancel ${e.title || e.id}`}
            confirm={`Cancel ${e.title || e.id}?`}
          />
        ) : null}
        {e.status === "failed" ? (
          <ActionForm action={`/ui/episodes/${e.id}/retry`} csrf={props.csrf} label="Retry" ariaLabel={`Retry ${e.title || e.id}`} />
        ) : null}
      </td>
    </tr>
  );
}

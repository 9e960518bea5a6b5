/**
 * Feeds and sources: each feed's last and next poll, its errors, and its items with what became
 * of each (skipped, queued and its episode's status, failed and why); then the webhook sources.
 */
import type { FeedItemRow, FeedRow } from "../../feeds/feed-store.ts";
import type { SourceRow } from "../../sources/source-store.ts";
import { formatRelative, formatTime, Layout, StatusBadge } from "./layout.tsx";

export interface FeedWithItems {
  feed: FeedRow;
  items: Array<{ item: FeedItemRow; episodeStatus: string | null; episodeError: string | null }>;
}

export function FeedsPage(props: { csrf: string; feeds: FeedWithItems[]; sources: SourceRow[]; now: number }) {
  return (
    <Layout title="Feeds and sources" nav="feeds" csrf={props.csrf}>
      <section id="feeds" data-live="true" class="panel" aria-labelledby="feeds-h">
        <h2 id="feeds-h">Feeds</h2>
        {props.feeds.length === 0 ? (
          <p class="empty">
            No feeds. Add one with <code>podfleet feeds add URL</code> or <code>POST /v1/feeds</code>.
          </p>
        ) : (
          props.feeds.map(({ feed, items }) => (
            <article class="feed" id={`feed-${feed.id}`}>
              <h3>{feed.title || feed.url}</h3>
              <dl class="stats">
                <div>
                  <dt>URL</dt>
                  <dd class="mono">{feed.url}</dd>
                </div>
                <div>
                  <dt>Last poll</dt>
                  <dd>
                    {formatRelative(feed.lastPolledAt, props.now)} {feed.lastStatus ? `(${feed.lastStatus})` : ""}
                  </dd>
                </div>
                <div>
                  <dt>Next poll</dt>
                  <dd>{formatRelative(feed.nextPollAt, props.now)}</dd>
                </div>
                <div>
                  <dt>Errors in a row</dt>
                  <dd>{feed.errorCount}</dd>
                </div>
              </dl>
              {feed.lastError ? <p class="error-text">Last error: {feed.lastError}</p> : null}
              <details open={items.length <= 20}>
                <summary>{items.length} items</summary>
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Item</th>
                      <th scope="col">Published</th>
                      <th scope="col">Kind</th>
                      <th scope="col">What became of it</th>
                    </tr>
                  </thead>
                  <tbody>
                    {items.map(({ item, episodeStatus, episodeError }) => (
                      <tr>
                        <td>{item.title || item.guid || item.enclosureUrl}</td>
                        <td>{formatTime(item.publishedAt)}</td>
                        <td>{item.kind}</td>
                        <td>
                          <StatusBadge status={item.state} />
                          {item.reason ? ` ${item.reason}` : ""}
                          {item.episodeId ? (
                            <>
                              {" → "}
                              <a href={`/ui/episodes/${item.episodeId}`}>{item.episodeId}</a>{" "}
                              {episodeStatus ? <StatusBadge status={episodeStatus} /> : null}
                            </>
                          ) : null}
                          {episodeError || item.lastError ? <div class="error-text">{episodeError ?? item.lastError}</div> : null}
                          {item.attempts > 1 ? <div class="hint">{item.attempts} runs</div> : null}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </details>
            </article>
          ))
        )}
      </section>
      <section class="panel" aria-labelledby="src-h">
        <h2 id="src-h">Webhook sources</h2>
        {props.sources.length === 0 ? (
          <p class="empty">
            No webhook sources. Add one with <code>POST /v1/sources</code>.
          </p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Verification</th>
                <th scope="col">Re-reads feed</th>
                <th scope="col">Added</th>
              </tr>
            </thead>
            <tbody>
              {props.sources.map((s) => (
                <tr>
                  <td>{s.name}</td>
                  <td>{s.scheme}</td>
                  <td class="mono">{s.feedUrl ?? "–"}</td>
                  <td>{formatTime(s.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </Layout>
  );
}

export function LoginPage(props: { error: string | null; tokenHint: string }) {
  return (
    <Layout title="Sign in" nav={null} csrf={null}>
      <form method="post" action="/ui/login" class="panel login">
        {props.error ? (
          <p class="error-text" role="alert">
            {props.error}
          </p>
        ) : null}
        <label>
          Admin token
          <input type="password" name="token" autocomplete="current-password" required autofocus />
        </label>
        <p class="hint">{props.tokenHint}</p>
        <button type="submit">Sign in</button>
      </form>
    </Layout>
  );
}

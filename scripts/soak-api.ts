/** The few orchestrator API calls the hostile soak makes, with the data directory's admin token. */
import type { EpisodeView } from "../orchestrator/episodes/episode-service.ts";
import { authHeaders } from "../test/support/auth.ts";

export type { EpisodeView };

export interface FeedEntry {
  guid: string | null;
  enclosureUrl: string | null;
  kind: string;
  state: string;
  reason: string | null;
  episodeId: string | null;
}

export interface FeedView {
  id: string;
  url: string;
  lastPolledAt: string | null;
  lastStatus: string | null;
  lastError: string | null;
  entries: FeedEntry[];
}

export class SoakApi {
  constructor(private readonly base: () => string) {}

  private async call<T>(method: string, p: string, body?: unknown): Promise<T> {
    const url = new URL(p, this.base());
    const res = await fetch(url, {
      method,
      headers: { ...authHeaders(url), ...(body === undefined ? {} : { "content-type": "application/json" }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p} answered ${res.status}: ${text.slice(0, 300)}`);
    return (res.headers.get("content-type") ?? "").includes("json") ? (JSON.parse(text) as T) : (text as T);
  }

  async submit(audioUrl: string, title: string): Promise<string> {
    return (await this.call<{ id: string }>("POST", "/v1/episodes", { audioUrl, title })).id;
  }

  async addFeed(url: string, backfill: number): Promise<string> {
    return (await this.call<{ feed: { id: string } }>("POST", "/v1/feeds", { url, backfill, intervalSec: 60 })).feed.id;
  }

  async episodes(): Promise<EpisodeView[]> {
    return (await this.call<{ episodes: EpisodeView[] }>("GET", "/v1/episodes?limit=500")).episodes;
  }

  async feeds(ids: string[]): Promise<FeedView[]> {
    return Promise.all(ids.map((id) => this.call<FeedView>("GET", `/v1/feeds/${id}`)));
  }

  /** podfleet_escaped_errors_total summed over its kinds, from /metrics. */
  async escapes(): Promise<number> {
    const text = await this.call<string>("GET", "/metrics");
    let sum = 0;
    for (const m of text.matchAll(/^podfleet_escaped_errors_total\{[^}]*\} (\d+)/gm)) sum += Number(m[1]);
    return sum;
  }
}

/**
 * What the multi-orchestrator tests read from outside the orchestrators: who leads (each
 * orchestrator's own `GET /v1/fleet`), which NATS node leads a stream (JetStream stream info),
 * episodes' progress and transcripts over HTTP, and rows of the shared libSQL server read directly
 * (chunk attempts, deliveries), so a check never trusts the process it checks.
 */
import { createClient, type InStatement } from "@libsql/client";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { authHeaders } from "./auth.ts";
import type { ClusterNode, TestNatsCluster } from "./nats-cluster.ts";
import { episodeStatus, type EpisodeStatus } from "./up-process.ts";
import { until } from "./until.ts";

/** One orchestrator's view of leadership: the lease key as its `GET /v1/fleet` reads it, and its own belief from `/metrics`. */
export interface LeaderView {
  /** This orchestrator's instance id (the `instance` label of its podfleet_leader gauge). */
  instance: string;
  /** Whether it believes it leads and runs the singleton duties (podfleet_leader = 1). */
  self: boolean;
  /** Instance id of the lease holder, or null when nobody holds the lease. */
  holder: string | null;
  /** Fencing term of the holder's election, or null. */
  term: number | null;
  /** When the holder was elected (epoch ms), or null. */
  since: number | null;
}

/** Thrown when an orchestrator answers but its answer lacks the leadership fields: the test must fail, not wait. */
export class LeaderViewError extends Error {
  override readonly name = "LeaderViewError";
}

const LEADER_GAUGE = /^podfleet_leader\{instance="([^"]+)"\} (\d+)$/m;

/** The orchestrator's leader view, or undefined when it does not answer (dead, paused, restarting). */
export async function leaderView(url: string): Promise<LeaderView | undefined> {
  const get = (p: string): Promise<Response | undefined> =>
    fetch(`${url}${p}`, { headers: authHeaders(url), signal: AbortSignal.timeout(2000) }).catch(() => undefined);
  const [fleet, metrics] = await Promise.all([get("/v1/fleet"), get("/metrics")]);
  if (!fleet?.ok || !metrics?.ok) return undefined;
  // a body cut short (the 2 s timeout also covers reading it) is no answer; a whole one without the fields is a failure
  const body = (await fleet.json().catch(() => undefined)) as { leader?: { holder: string; term: number; since: string } | null } | undefined;
  const text = await metrics.text().catch(() => undefined);
  if (body === undefined || text === undefined) return undefined;
  const gauge = LEADER_GAUGE.exec(text);
  if (!("leader" in body)) throw new LeaderViewError(`GET ${url}/v1/fleet has no leader field`);
  if (!gauge) throw new LeaderViewError(`GET ${url}/metrics has no podfleet_leader gauge`);
  const l = body.leader ?? null;
  return { instance: gauge[1]!, self: gauge[2] === "1", holder: l?.holder ?? null, term: l?.term ?? null, since: l ? Date.parse(l.since) : null };
}

/** Which of two orchestrators leads: the one that believes it does and holds the key, as both read it. */
export async function leaderAndFollower<T extends { url: string }>(pair: readonly T[], timeoutMs = 60_000): Promise<{ leader: T; follower: T }> {
  if (pair.length !== 2) throw new TypeError("leaderAndFollower takes two orchestrators");
  return until(
    "one leader both orchestrators agree on",
    async () => {
      const views = await Promise.all(pair.map((o) => leaderView(o.url)));
      const i = views.findIndex((v) => v?.self === true && v.holder === v.instance);
      if (i < 0 || views.some((v) => v?.holder !== views[i]!.instance)) return undefined;
      return { leader: pair[i]!, follower: pair[1 - i]! };
    },
    timeoutMs,
    200,
  );
}

/** The NATS node that leads `stream` (its stream info's cluster.leader). */
export async function streamLeader(cluster: TestNatsCluster, stream: string): Promise<ClusterNode> {
  const nc = await connect({ servers: [...cluster.urls] });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const name = info.cluster?.leader;
    const node = cluster.servers.find((s) => s.name === name);
    if (!node)
      throw new Error(
        `stream ${stream} has no leader among ${cluster.servers.map((s) => s.name).join(", ")} (cluster info: ${JSON.stringify(info.cluster)})`,
      );
    return node;
  } finally {
    await nc.close();
  }
}

/** Every episode's status as `url` reports it (undefined entries when it does not answer). */
export async function statuses(url: string, ids: readonly string[]): Promise<Array<EpisodeStatus | undefined>> {
  return Promise.all(ids.map((id) => episodeStatus(url, id)));
}

/** POSTs an audio URL as a new episode (optionally with a callback URL); returns its id. */
export async function submitAudioUrl(url: string, audioUrl: string, extra: { callbackUrl?: string; chunkSeconds?: number } = {}): Promise<string> {
  const res = await fetch(`${url}/v1/episodes`, {
    method: "POST",
    headers: { "content-type": "application/json", ...authHeaders(url) },
    body: JSON.stringify({ audioUrl, chunkSeconds: extra.chunkSeconds ?? 4, ...(extra.callbackUrl ? { callbackUrl: extra.callbackUrl } : {}) }),
  });
  if (res.status !== 202) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { id: string }).id;
}

/** 5xx answers transcriptSet retried (tests print them: they are failures a client saw). */
export const transcriptRetries: string[] = [];

/** The episode's transcript in the three text formats, byte for byte. */
export async function transcriptSet(url: string, id: string): Promise<{ txt: string; json: string; vtt: string }> {
  // a 5xx (a NATS read timing out while the cluster recovers) is retried as a client would, and counted
  const get = (format: string): Promise<string> =>
    until(
      `transcript.${format} of ${id}`,
      async () => {
        const res = await fetch(`${url}/v1/episodes/${id}/transcript.${format}`, { headers: authHeaders(url) });
        if (res.status >= 500) {
          transcriptRetries.push(`${id}.${format}: HTTP ${res.status} ${await res.text()}`);
          return undefined;
        }
        if (!res.ok) throw new Error(`transcript.${format} of ${id}: HTTP ${res.status}`);
        return res.text();
      },
      30_000,
      500,
    );
  return { txt: await get("txt"), json: await get("json"), vtt: await get("vtt") };
}

/** Rows of one query against the shared libSQL server (sqld), as plain objects. */
export async function dbRows<T>(databaseUrl: string, statement: InStatement): Promise<T[]> {
  const client = createClient({ url: databaseUrl });
  try {
    const rs = await client.execute(statement);
    return rs.rows.map((r) => Object.fromEntries(rs.columns.map((c, i) => [c, r[i]])) as T);
  } finally {
    client.close();
  }
}

/**
 * Chunks of these episodes that are not done, or that have more than one attempt recorded as done
 * (a result applied twice). The attempt log (`chunk_attempts`, the dashboard's timeline) is written
 * after the transition commits, by the orchestrator that applied it: an applier SIGKILLed between
 * the two leaves that one attempt unrecorded, so "no done attempt" alone is not a double or a loss;
 * the chunk's own state is what says it is done.
 */
export async function chunksNotDoneOnce(databaseUrl: string, episodeIds: readonly string[]): Promise<string[]> {
  const marks = episodeIds.map(() => "?").join(",");
  const rows = await dbRows<{ id: string; idx: number; episode_id: string; state: string; done: number }>(databaseUrl, {
    sql: `SELECT c.id, c.idx, c.episode_id, c.state, (SELECT count(*) FROM chunk_attempts a WHERE a.chunk_id = c.id AND a.outcome = 'done') AS done
          FROM chunks c WHERE c.episode_id IN (${marks}) ORDER BY c.episode_id, c.idx`,
    args: [...episodeIds],
  });
  return rows
    .filter((r) => r.state !== "done" || Number(r.done) > 1)
    .map((r) => `${r.episode_id}#${r.idx}: state ${r.state}, ${r.done} done attempts`);
}

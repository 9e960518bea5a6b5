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

/** One orchestrator's view of the leader lease, from its `GET /v1/fleet`. */
export interface LeaderView {
  /** Instance id of the holder, or null when none holds the lease. */
  holder: string | null;
  /** Whether the answering orchestrator is the holder. */
  self: boolean;
  /** Fencing term of the holder's election. */
  term: number | null;
  /** When the holder was elected (epoch ms), or null. */
  since: number | null;
}

/** The orchestrator's leader view, or undefined when it does not answer (dead, paused, restarting). */
export async function leaderView(url: string): Promise<LeaderView | undefined> {
  try {
    const res = await fetch(`${url}/v1/fleet`, { headers: authHeaders(url), signal: AbortSignal.timeout(2000) });
    if (!res.ok) return undefined;
    const body = (await res.json()) as { leader?: { holder?: string | null; self?: boolean; term?: number | null; since?: string | number | null } };
    const l = body.leader;
    if (!l) throw new Error(`GET ${url}/v1/fleet has no leader field`);
    return {
      holder: l.holder ?? null,
      self: l.self === true,
      term: l.term ?? null,
      since: l.since === null || l.since === undefined ? null : new Date(l.since).getTime(),
    };
  } catch (err) {
    if (err instanceof Error && err.message.includes("no leader field")) throw err;
    return undefined;
  }
}

/** The NATS node that leads `stream` (its stream info's cluster.leader). */
export async function streamLeader(cluster: TestNatsCluster, stream: string): Promise<ClusterNode> {
  const nc = await connect({ servers: [...cluster.urls] });
  try {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(stream);
    const name = info.cluster?.leader;
    const node = cluster.servers.find((s) => s.name === name);
    if (!node) throw new Error(`stream ${stream} has no leader among ${cluster.servers.map((s) => s.name).join(", ")} (cluster info: ${JSON.stringify(info.cluster)})`);
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

/** The episode's transcript in the three text formats, byte for byte. */
export async function transcriptSet(url: string, id: string): Promise<{ txt: string; json: string; vtt: string }> {
  const get = async (format: string): Promise<string> => {
    const res = await fetch(`${url}/v1/episodes/${id}/transcript.${format}`, { headers: authHeaders(url) });
    if (!res.ok) throw new Error(`transcript.${format} of ${id}: HTTP ${res.status}`);
    return res.text();
  };
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

/** Chunks of these episodes whose attempts did not end in exactly one `done`: each result applied once. */
export async function chunksNotDoneOnce(databaseUrl: string, episodeIds: readonly string[]): Promise<string[]> {
  const marks = episodeIds.map(() => "?").join(",");
  const rows = await dbRows<{ id: string; idx: number; episode_id: string; done: number }>(databaseUrl, {
    sql: `SELECT c.id, c.idx, c.episode_id, (SELECT count(*) FROM chunk_attempts a WHERE a.chunk_id = c.id AND a.outcome = 'done') AS done
          FROM chunks c WHERE c.episode_id IN (${marks}) ORDER BY c.episode_id, c.idx`,
    args: [...episodeIds],
  });
  return rows.filter((r) => Number(r.done) !== 1).map((r) => `${r.episode_id}#${r.idx}: ${r.done} done attempts`);
}

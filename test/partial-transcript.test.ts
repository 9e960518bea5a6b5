/**
 * Progressive results end to end: an orchestrator with real NATS, libSQL and one real pocketsphinx
 * worker (so chunks finish one after another). Each time a chunk is done (its state event) the
 * test reads the partial transcript: it grows chunk by chunk while the episode is not done, each
 * version is a prefix of the final transcript, and it is marked partial until the end. The segment
 * stream (server-sent events) sends every final segment once, in order, some before the episode is
 * done, then `done`; reconnecting with Last-Event-ID resumes after that segment. An open stream
 * does not keep the orchestrator from shutting down.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { authHeaders } from "./support/auth.ts";
import { speechEpisode, startFleetStack, submitFile } from "./support/fleet-stack.ts";
import { api, silentWav, startStack, suiteCleanup } from "./support/ingest-stack.ts";
import { openSse, type SseEvent } from "./support/sse-stream.ts";
import { watchEvents } from "./support/state-events.ts";

interface Segment {
  startTime: number;
  endTime: number;
  body: string;
}
interface PartialJson {
  partial: boolean;
  status: string;
  chunksDone: number;
  chunkCount: number | null;
  throughSec: number;
  segments: Segment[];
}

const suite = suiteCleanup();
let audio: string;
before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-partial-audio-"));
  suite.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  audio = await speechEpisode(dir, 6);
});
after(() => suite.run());

/** All events until the stream ends, or a clear failure after `timeoutMs`. */
async function collect(events: AsyncGenerator<SseEvent>, timeoutMs: number): Promise<SseEvent[]> {
  const out: SseEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the segment stream did not end within ${timeoutMs} ms; got ${out.map((e) => e.event + (e.id ?? "")).join(" ")}`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([
      (async () => {
        for await (const e of events) out.push(e);
      })(),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
  return out;
}

const same = (a: Segment, b: Segment): boolean => a.body === b.body && a.startTime === b.startTime && a.endTime === b.endTime;

test("the partial transcript grows chunk by chunk before the episode is done; the segment stream sends each segment once, in order, then done", async (t) => {
  const orch = await startFleetStack(t, { PODFLEET_MAX_MACHINES: "1" });
  const watch = watchEvents(t, orch.events);
  const id = await submitFile(orch.url, audio);

  const stream = await openSse(t, `${orch.url}/v1/episodes/${id}/transcript-stream`, authHeaders(orch.url));
  assert.equal(stream.status, 200);
  assert.match(stream.contentType ?? "", /^text\/event-stream/);
  const streamed = collect(stream.events, 240_000);

  // read the partial transcript each time a chunk of this episode is done
  const samples: Array<Promise<{ header: string | null; body: PartialJson; vtt?: string }>> = [];
  const off = orch.events.on("chunk:transition", (e) => {
    if (e.episodeId !== id || e.to !== "done") return;
    const first = samples.length === 0;
    samples.push(
      (async () => {
        const json = await api<PartialJson>(orch.url, "GET", `/v1/episodes/${id}/partial-transcript.json`);
        assert.equal(json.status, 200);
        const vtt = first ? (await api<string>(orch.url, "GET", `/v1/episodes/${id}/partial-transcript.vtt`)).body : undefined;
        return { header: json.headers.get("x-transcript-partial"), body: json.body, ...(vtt === undefined ? {} : { vtt }) };
      })(),
    );
  });
  t.after(off);

  const finished = await watch.episode(id, ["done", "failed", "cancelled"], { timeoutMs: 240_000 });
  assert.equal(finished.to, "done", finished.error ?? "");
  const events = await streamed;
  const partials = await Promise.all(samples);
  const final = (await api<{ segments: Segment[] }>(orch.url, "GET", `/v1/episodes/${id}/transcript.json`)).body;
  const chunkCount = (await orch.store.getEpisode(id))!.chunkCount!;
  assert.ok(chunkCount >= 4, `expected several chunks, got ${chunkCount}`);
  assert.ok(final.segments.length >= 3, `expected several segments, got ${final.segments.length}`);

  // the partial transcript: one reading per chunk done, growing, each a prefix of the final one
  assert.equal(partials.length, chunkCount);
  const early = partials.filter((p) => p.body.status !== "done");
  assert.ok(early.length > 0, "some readings were taken before the episode was done");
  for (const p of early) {
    assert.equal(p.body.partial, true);
    assert.equal(p.header, "true");
    assert.equal(p.body.chunkCount, chunkCount);
    // all but the last segment are final (the next words may still join the last one)
    for (const [i, s] of p.body.segments.slice(0, -1).entries())
      assert.ok(same(s, final.segments[i]!), `partial segment ${i} differs from the final one: ${JSON.stringify(s)}`);
  }
  const grown = new Set(early.filter((p) => p.body.segments.length > 0).map((p) => p.body.chunksDone));
  assert.ok(
    grown.size >= 2,
    `the text grew chunk by chunk before the end (chunks done at each reading: ${early.map((p) => p.body.chunksDone).join(",")})`,
  );
  assert.ok(
    early.some((p) => p.body.chunksDone < chunkCount && p.body.segments.length > 0),
    "there was text while chunks were still to do",
  );
  assert.match(partials[0]!.vtt ?? "", /^WEBVTT\n\nNOTE partial transcript/, "WebVTT says it is partial");

  const after = await api<PartialJson>(orch.url, "GET", `/v1/episodes/${id}/partial-transcript.json`);
  assert.equal(after.body.partial, false);
  assert.equal(after.headers.get("x-transcript-partial"), "false");
  assert.deepEqual(after.body.segments, final.segments, "once done, the partial transcript is the final one");

  // the stream: every segment once, in order, equal to the final transcript's, then done
  const segmentEvents = events.filter((e) => e.event === "segment");
  assert.deepEqual(
    segmentEvents.map((e) => e.id),
    final.segments.map((_, i) => String(i)),
  );
  for (const [i, e] of segmentEvents.entries()) {
    const data = JSON.parse(e.data) as Segment & { index: number };
    assert.equal(data.index, i);
    assert.ok(same(data, final.segments[i]!), `segment ${i}: ${e.data}`);
  }
  const last = events.at(-1)!;
  assert.equal(last.event, "done");
  assert.deepEqual(JSON.parse(last.data), { status: "done", segments: final.segments.length });
  assert.ok(segmentEvents[0]!.at < finished.at, "the first segment arrived before the episode was done");
  t.diagnostic(
    `first segment ${finished.at - segmentEvents[0]!.at} ms before the episode was done; done event ${last.at - finished.at} ms after it (machine shared with other work)`,
  );

  // resuming after segment k sends k+1.. and done
  const k = final.segments.length - 3;
  const resumed = await openSse(t, `${orch.url}/v1/episodes/${id}/transcript-stream`, { ...authHeaders(orch.url), "last-event-id": String(k) });
  const again = await collect(resumed.events, 30_000);
  assert.deepEqual(
    again.map((e) => `${e.event}${e.id ?? ""}`),
    [`segment${k + 1}`, `segment${k + 2}`, "done"],
  );

  // bad input gets a clear error
  const bad = await api(orch.url, "GET", `/v1/episodes/${id}/transcript-stream`, undefined, { "last-event-id": "abc" });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "invalid_request");
  assert.equal((await api(orch.url, "GET", `/v1/episodes/ep_nope/transcript-stream`)).status, 404);
  assert.equal((await api(orch.url, "GET", `/v1/episodes/ep_nope/partial-transcript.txt`)).status, 404);
});

test("an open segment stream ends when the orchestrator shuts down, without a done event", async (t) => {
  const orch = await startStack(t, { PODFLEET_CHUNK_SECONDS: "1" }); // no machines: the chunks stay queued
  const watch = watchEvents(t, orch.events);
  const res = await fetch(new URL("/v1/episodes?title=idle", orch.url), {
    method: "POST",
    headers: { "content-type": "audio/wav", ...authHeaders(orch.url) },
    body: silentWav(3),
  });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  await watch.episode(id, "transcribing", { timeoutMs: 30_000 });
  const partial = await api<PartialJson>(orch.url, "GET", `/v1/episodes/${id}/partial-transcript.json`);
  assert.deepEqual([partial.body.partial, partial.body.chunksDone, partial.body.segments.length], [true, 0, 0]);
  const stream = await openSse(t, `${orch.url}/v1/episodes/${id}/transcript-stream`, authHeaders(orch.url));
  assert.equal(stream.status, 200);
  const events = collect(stream.events, 30_000);
  const started = Date.now();
  await orch.close();
  assert.deepEqual(await events, [], "nothing was sent, and the stream ended");
  t.diagnostic(`shutdown with an open stream took ${Date.now() - started} ms`);
});

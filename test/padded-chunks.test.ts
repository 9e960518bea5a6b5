/**
 * Context padding through the real stack: an orchestrator (embedded nats-server, libSQL file,
 * ffmpeg) plans an uploaded speech episode into 4 s cores padded by the default padding (none at a
 * cut in a pause, 2 s on a side cut in speech). Every
 * chunk row keeps its core, and every job on the queue and every chunk WAV in the object store
 * carries the widened span. Then real workers (local machines runtime, pocketsphinx) transcribe
 * it, and the transcript has every word of the unchunked run exactly once at every seam.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { ChunkTranscript, InlineChunkJob, JOB_HEADER, SAMPLE_RATE } from "../contract/wire.ts";
import { PocketsphinxEngine } from "../machine-image/worker/pocketsphinx-engine.ts";
import { decodeToPcm, readWavSlice } from "../orchestrator/ingest/audio-decode.ts";
import { DEFAULT_CHUNK_PAD } from "../orchestrator/ingest/chunk-context.ts";
import { connectAuth } from "../orchestrator/queue/nats-credentials.ts";
import { chunkWords } from "../orchestrator/transcript/chunk-words.ts";
import { stitchChunks } from "../orchestrator/transcript/stitch.ts";
import { normalizeWords } from "../orchestrator/transcript/wer.ts";
import { measureSeams, seamTimes } from "../bench/seam-metrics.ts";
import { SHORT_TEXT } from "./support/corpus.ts";
import { startFleetStack, submitFile, until } from "./support/fleet-stack.ts";
import { api } from "./support/ingest-stack.ts";
import { synthesizeEpisode } from "./support/speech.ts";

test("a padded chunk's job and audio carry the widened span, and no word is lost or doubled at a seam", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-padded-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // No machines until the plan has been inspected; sentences 0.2 s apart, so most cuts have no silence to use.
  // the fleet stack turns padding off for its other tests; this one runs the default
  const orch = await startFleetStack(t, {
    PODFLEET_MAX_MACHINES: "0",
    PODFLEET_CHUNK_SECONDS: "4",
    PODFLEET_CHUNK_PAD_SECONDS: String(DEFAULT_CHUNK_PAD.before),
    PODFLEET_CHUNK_PAD_AFTER_SECONDS: String(DEFAULT_CHUNK_PAD.after),
    PODFLEET_CHUNK_PAD_SPEECH_SECONDS: String(DEFAULT_CHUNK_PAD.speech),
  });
  const episode = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs.flatMap((p) => p.split(/(?<=\.) /)), pauseSec: 0.2, dir });
  const id = await submitFile(orch.url, episode.path);
  const row = await until("the plan", async () => {
    const e = await orch.store.getEpisode(id);
    // the plan grows while the audio streams in; it is complete (chunkCount, sampleCount) once it ends
    return e?.status === "transcribing" && e.chunkCount !== null ? e : undefined;
  });
  const total = row.sampleCount!;
  const samplesOf = (sec: number | undefined): number => Math.round(sec! * SAMPLE_RATE);
  const chunks = await orch.store.listChunks(id);
  assert.ok(chunks.length >= 4, `planned ${chunks.length} chunks`);
  // the plan says how each core's end was cut: in speech where no pause was near
  const plan = JSON.parse(row.planJson!) as Array<{ index: number; reason: string }>;
  const endsInSpeech = chunks.map((c) => plan.find((p) => p.index === c.index)!.reason.endsWith("cut in speech"));
  assert.ok(endsInSpeech.filter(Boolean).length >= 2, `cuts in speech: ${endsInSpeech.filter(Boolean).length}`);

  // Cores tile the episode; each audio span is its core widened by the padding of each side
  // (the speech padding where the cut fell in speech), clamped.
  chunks.forEach((c, i) => {
    const before = i > 0 && endsInSpeech[i - 1] ? DEFAULT_CHUNK_PAD.speech : DEFAULT_CHUNK_PAD.before;
    const after = endsInSpeech[i] ? DEFAULT_CHUNK_PAD.speech : DEFAULT_CHUNK_PAD.after;
    assert.equal(c.coreStartSample, i === 0 ? 0 : chunks[i - 1]!.coreEndSample, `chunk ${i}'s core starts where the last ended`);
    assert.equal(c.startSample, Math.max(0, c.coreStartSample! - samplesOf(before)), `chunk ${i} audio start`);
    assert.equal(c.endSample, Math.min(total, c.coreEndSample! + samplesOf(after)), `chunk ${i} audio end`);
  });
  assert.equal(chunks.at(-1)!.coreEndSample, total);

  // The jobs on the queue carry the audio span, not the core: the job in its header, the span's WAV as the payload.
  const nc = await connect({ servers: orch.natsUrl, ...connectAuth(orch.natsAuth.orchestrator) });
  t.after(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const { state } = await jsm.streams.info(orch.names.jobsStream);
  const jobs: Array<{ job: InlineChunkJob; wavBytes: number }> = [];
  for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
    const msg = await jsm.streams.getMessage(orch.names.jobsStream, { seq }).catch(() => null);
    const header = msg?.header?.get(JOB_HEADER);
    if (msg && header) jobs.push({ job: InlineChunkJob.parse(JSON.parse(header)), wavBytes: msg.data.length });
  }
  const ours = jobs.filter(({ job }) => job.episodeId === id).sort((x, y) => x.job.index - y.job.index);
  assert.deepEqual(
    ours.map(({ job }) => [job.index, job.startSample, job.endSample]),
    chunks.map((c) => [c.index, c.startSample, c.endSample]),
  );
  for (const { job, wavBytes } of ours)
    assert.equal(wavBytes, 44 + 2 * (job.endSample - job.startSample), `chunk ${job.index}'s WAV holds its padded audio`);

  // Now let real workers transcribe it.
  assert.equal((await api(orch.url, "PUT", "/v1/fleet/limits", { maxMachines: 2 })).status, 200);
  await until(
    "the episode to finish",
    async () => {
      const e = await orch.store.getEpisode(id);
      if (e?.status === "failed") throw new Error(`episode failed: ${e.error}`);
      return e?.status === "done" ? e : undefined;
    },
    600_000,
  );

  // Each worker's words, exactly as the orchestrator stitched them.
  const results = await new Objm(nc).open(orch.names.resultsBucket);
  const done = await orch.store.listChunks(id);
  const withWords = [];
  const resultObjects = {
    getChunkTranscript: async (name: string) => ChunkTranscript.parse(JSON.parse(Buffer.from((await results.getBlob(name))!).toString("utf8"))),
  };
  // small results ride in the result event and sit in the row; larger ones are objects
  for (const c of done) withWords.push({ ...c, words: await chunkWords(c, resultObjects) });
  const heardInPadding = withWords.filter((c) =>
    c.words.some((w) => {
      const mid = c.startSample + ((w.start + w.end) / 2) * SAMPLE_RATE;
      return mid < c.coreStartSample! || mid >= c.coreEndSample!;
    }),
  );
  assert.ok(heardInPadding.length >= 2, `workers decoded the padding (${heardInPadding.length} chunks have words there)`);
  const stitched = stitchChunks(withWords, SAMPLE_RATE, { expectedChunks: done.length });
  const txt = await api<string>(orch.url, "GET", `/v1/episodes/${id}/transcript.txt`);
  assert.equal(txt.status, 200);
  assert.deepEqual(normalizeWords(txt.body), normalizeWords(stitched.map((w) => w.text).join(" ")), "the transcript is the core-stitched words");

  // Against the unchunked run of the same audio: nothing lost or doubled at any seam.
  const pcm = path.join(dir, "episode.pcm");
  await decodeToPcm(episode.path, pcm);
  const wav = path.join(dir, "whole.wav");
  fs.writeFileSync(wav, await readWavSlice(pcm, 0, total));
  const direct = await new PocketsphinxEngine().transcribe(wav, { language: "en", signal: AbortSignal.timeout(600_000) });
  const report = measureSeams(
    stitchChunks([{ index: 0, startSample: 0, endSample: total, words: direct }], SAMPLE_RATE),
    stitched,
    seamTimes(
      done.map((c) => ({ ...c, coreStartSample: c.coreStartSample ?? undefined })),
      SAMPLE_RATE,
    ),
  );
  assert.ok(report.seams >= 3);
  assert.equal(report.lost, 0, "no word lost at a seam");
  assert.equal(report.duplicated, 0, "no word doubled at a seam");
});

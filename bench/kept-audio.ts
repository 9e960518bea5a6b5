/**
 * What keeping chunk audio and uploads in NATS costs (queue/kept-audio.ts, episodes/upload-store.ts),
 * against the embedded default (the episode's PCM in the data directory): per chunk, the time to
 * keep a chunk's padded WAV before it is recorded and to read it back for a re-publish, and the
 * bytes kept; per upload, the time to put it in the uploads bucket (before the 202) and to fetch
 * it on another orchestrator. A real nats-server (one node) on 127.0.0.1 with a temp store.
 *
 *   npm run bench:kept-audio [-- --chunks 30 --upload-mb 50]
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { wireNames } from "../contract/wire.ts";
import { NatsUploadStore } from "../orchestrator/episodes/upload-store.ts";
import { CHUNK_PAD_SPEECH_SECONDS } from "../orchestrator/ingest/chunk-context.ts";
import { parseConfig } from "../orchestrator/config.ts";
import { ensureWireResources } from "../orchestrator/queue/jetstream.ts";
import { LocalKeptAudio, NatsKeptAudio } from "../orchestrator/queue/kept-audio.ts";
import { startNatsServer } from "../orchestrator/queue/nats-server.ts";
import { wavHeader } from "../orchestrator/ingest/audio-decode.ts";

const { values } = parseArgs({ options: { chunks: { type: "string", default: "30" }, "upload-mb": { type: "string", default: "50" } } });
const chunks = Number(values.chunks);
const uploadMb = Number(values["upload-mb"]);
/** The default chunk length (PODFLEET_CHUNK_SECONDS unset) plus the most context padding it gets (both sides cut in speech). */
const CHUNK_SECONDS = parseConfig({}).chunkSeconds;
const SAMPLES = (CHUNK_SECONDS + 2 * CHUNK_PAD_SPEECH_SECONDS) * 16_000;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const time = async (fn: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
};

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-bench-kept-"));
const server = await startNatsServer({ storeDir: path.join(dir, "nats") });
try {
  const nc = await connect({ servers: server.url });
  const names = wireNames("benchkept");
  const buckets = await ensureWireResources(nc, names, { ackWaitMs: 30_000, maxDeliver: 3 });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const nats = new NatsKeptAudio(js, jsm, names);
  const local = new LocalKeptAudio(path.join(dir, "audio"));
  const pcm = Buffer.alloc(SAMPLES * 2);
  for (let i = 0; i < pcm.length; i += 2) pcm.writeInt16LE(((i * 7919) % 2000) - 1000, i);
  const wav = Buffer.concat([wavHeader(SAMPLES), pcm]);

  // local: append the chunk's samples to the episode PCM (what streaming ingest does), read a slice back
  fs.mkdirSync(path.join(dir, "audio"), { recursive: true });
  const localKeep: number[] = [];
  const localRead: number[] = [];
  const file = await fs.promises.open(local.pcmPath("ep"), "w");
  for (let i = 0; i < chunks; i++) localKeep.push(await time(() => file.write(pcm)));
  await file.close();
  for (let i = 0; i < chunks; i++) {
    const span = { index: i, startSample: i * SAMPLES, endSample: (i + 1) * SAMPLES };
    localRead.push(await time(() => local.readChunk("ep", span)));
  }
  // nats: one message per chunk in the kept-audio stream
  const natsKeep: number[] = [];
  const natsRead: number[] = [];
  for (let i = 0; i < chunks; i++) natsKeep.push(await time(() => nats.keepChunk("ep", { index: i, startSample: 0, endSample: SAMPLES }, wav)));
  for (let i = 0; i < chunks; i++) {
    natsRead.push(
      await time(async () => {
        const got = await nats.readChunk("ep", { index: i, startSample: 0, endSample: SAMPLES });
        if (!got || got.length !== wav.length) throw new Error("kept chunk read back wrong");
      }),
    );
  }
  const purge = await time(() => nats.purge("ep"));

  // uploads: put (before the 202) and fetch on another orchestrator
  const upload = path.join(dir, "upload.bin");
  fs.writeFileSync(upload, Buffer.alloc(uploadMb * 1024 * 1024, 7));
  const store = NatsUploadStore.on(nc, names.uploadsBucket, buckets.uploads);
  const put = await time(() => store.keep("ep", upload));
  const fetched = path.join(dir, "fetched.bin");
  const get = await time(() => store.fetchTo("ep", fetched));
  if (fs.statSync(fetched).size !== uploadMb * 1024 * 1024) throw new Error("upload fetched wrong");
  const remove = await time(() => store.remove("ep"));
  await nc.close();

  const f = (n: number): string => n.toFixed(2);
  console.log(`chunk WAV: ${wav.length} bytes (${CHUNK_SECONDS} s + 2 × ${CHUNK_PAD_SPEECH_SECONDS} s pad), ${chunks} chunks, medians`);
  console.log(`  local PCM  keep ${f(median(localKeep))} ms  read ${f(median(localRead))} ms  (kept bytes/chunk ${pcm.length})`);
  console.log(
    `  NATS kept  keep ${f(median(natsKeep))} ms  read ${f(median(natsRead))} ms  (kept bytes/chunk ${wav.length}; purge of all ${f(purge)} ms)`,
  );
  console.log(`upload ${uploadMb} MiB: put ${f(put)} ms (${f((uploadMb * 1000) / put)} MiB/s)  fetch ${f(get)} ms  remove ${f(remove)} ms`);
} finally {
  await server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
}

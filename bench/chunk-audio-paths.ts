/**
 * `npm run bench:chunk-audio`: how should a chunk's audio reach its worker? Measures, on a real
 * nats-server (max_payload 8 MiB) and `CHUNKS` chunks of 60 s of synthesized speech:
 *   a. inline     the job message carries the WAV (headers hold the job)
 *   b. obj        the @nats-io/obj Object Store, as before (pure-JS SHA-256 on put and get)
 *   b'. obj-raw   the same bucket written without the library (node:crypto digest, publish-only),
 *                 read back with the library (which still verifies in JS)
 *   c. flac       the job message carries FLAC (ffmpeg encodes on the orchestrator, decodes on the worker)
 * For each: bytes the orchestrator sends and the worker receives (client stats), orchestrator CPU
 * per chunk (this process, plus ffmpeg children for FLAC), worker CPU and wall per chunk (receive to
 * a WAV file the engine can read), and nats-server CPU per chunk (/proc of the child).
 * Usage: npm run bench:chunk-audio [-- CHUNKS]. Timings depend on the machine and its load.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect, headers } from "@nats-io/transport-node";
import { ResultWriter } from "../machine-image/worker/result-writer.ts";
import { wavHeader } from "../orchestrator/ingest/audio-decode.ts";
import { startNatsServer } from "../orchestrator/queue/nats-server.ts";
import { round, speechWav } from "./bench-stack.ts";
import { childCpuMs, selfCpuMs, processCpuMs } from "./process-cpu.ts";

const run = promisify(execFile);
const CHUNKS = Number(process.argv[2] ?? 20);
const CHUNK_SEC = 60;

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-audio-paths-"));
  const server = await startNatsServer({ storeDir: path.join(dir, "nats") });
  const orch = await connect({ servers: server.url, name: "orchestrator" });
  const worker = await connect({ servers: server.url, name: "worker" });
  try {
    // 60 s of speech: the quick speech fixture, repeated
    const speech = fs.readFileSync((await speechWav(dir, true)).path).subarray(44);
    const pcm = Buffer.alloc(CHUNK_SEC * 16_000 * 2);
    for (let at = 0; at < pcm.length; at += speech.length) speech.copy(pcm, at, 0, Math.min(speech.length, pcm.length - at));
    const wav = Buffer.concat([wavHeader(pcm.length / 2), pcm]);
    const wavFile = path.join(dir, "chunk.wav");
    fs.writeFileSync(wavFile, wav);
    const flacFile = path.join(dir, "chunk.flac");
    const jsm = await jetstreamManager(orch);
    const js = jetstream(orch);
    const wjs = jetstream(worker);
    await jsm.streams.add({ name: "JOBS", subjects: ["jobs.>"], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
    await jsm.consumers.add("JOBS", { durable_name: "w", ack_policy: AckPolicy.Explicit });
    const bucket = await new Objm(orch).create("audio", { storage: StorageType.File });
    const wbucket = await new Objm(wjs).open("audio");
    const raw = new ResultWriter(js, "audio", orch.info?.max_payload);
    const consumer = await wjs.consumers.get("JOBS", "w");

    const rows: Record<string, number | string>[] = [];
    let seq = 0;
    const measure = async (name: string, put: (i: number) => Promise<void>, get: (i: number) => Promise<void>): Promise<void> => {
      // warm-up (JIT, first-use setup), not counted
      for (let k = 0; k < 2; k++) await put(seq + k);
      for (let k = 0; k < 2; k++) await get(seq + k);
      seq += 2;
      const o0 = { self: selfCpuMs(), child: childCpuMs(), srv: processCpuMs(server.pid!), out: orch.stats().outBytes };
      for (let i = seq; i < seq + CHUNKS; i++) await put(i);
      const o1 = { self: selfCpuMs(), child: childCpuMs(), srv: processCpuMs(server.pid!), out: orch.stats().outBytes };
      const w0 = { self: selfCpuMs(), child: childCpuMs(), in: worker.stats().inBytes, t: performance.now(), srv: o1.srv };
      for (let i = seq; i < seq + CHUNKS; i++) await get(i);
      seq += CHUNKS;
      const w1 = { self: selfCpuMs(), child: childCpuMs(), in: worker.stats().inBytes, t: performance.now(), srv: processCpuMs(server.pid!) };
      rows.push({
        path: name,
        orch_sent_kb_per_chunk: round((o1.out - o0.out) / CHUNKS / 1024, 1),
        worker_received_kb_per_chunk: round((w1.in - w0.in) / CHUNKS / 1024, 1),
        orch_cpu_ms_per_chunk: round((o1.self - o0.self + o1.child - o0.child) / CHUNKS, 2),
        worker_cpu_ms_per_chunk: round((w1.self - w0.self + w1.child - w0.child) / CHUNKS, 2),
        worker_wall_ms_per_chunk: round((w1.t - w0.t) / CHUNKS, 2),
        nats_server_cpu_ms_per_chunk: round((w1.srv - o0.srv) / CHUNKS, 2),
      });
    };
    const pull = async (): Promise<Uint8Array> => {
      const m = await consumer.next({ expires: 5_000 });
      if (!m) throw new Error("no job");
      m.ack();
      return m.data;
    };
    const out = (i: number, ext = "wav"): string => path.join(dir, `w${i}.${ext}`);
    const job = (): ReturnType<typeof headers> => {
      const h = headers();
      h.set("Podfleet-Job", JSON.stringify({ v: 2, chunkId: "c", index: 0 }));
      return h;
    };

    await measure(
      "a inline wav",
      async (i) => void (await js.publish(`jobs.${i}`, wav, { headers: job() })),
      async (i) => fs.writeFileSync(out(i), await pull()),
    );
    await measure(
      "b obj (library)",
      async (i) => void (await bucket.putBlob({ name: `lib/${i}.wav` }, wav)),
      async (i) => fs.writeFileSync(out(i), (await wbucket.getBlob(`lib/${i}.wav`))!),
    );
    await measure(
      "b' obj raw put (node:crypto)",
      async (i) => raw.put(`raw/${i}.wav`, wav),
      async (i) => fs.writeFileSync(out(i), (await wbucket.getBlob(`raw/${i}.wav`))!),
    );
    await measure(
      "c inline flac",
      async (i) => {
        await run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-i", wavFile, "-c:a", "flac", flacFile]);
        await js.publish(`jobs.${i}`, fs.readFileSync(flacFile), { headers: job() });
      },
      async (i) => {
        fs.writeFileSync(out(i, "flac"), await pull());
        await run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-i", out(i, "flac"), "-c:a", "pcm_s16le", out(i)]);
      },
    );
    process.stdout.write(
      `chunk: ${CHUNK_SEC} s speech, WAV ${round(wav.length / 1024, 1)} KiB; ${CHUNKS} chunks per path; ${os.cpus().length} CPUs, load ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}\n`,
    );
    for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
  } finally {
    await worker.close();
    await orch.close();
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:chunk-audio: ${String(err)}\n`);
    process.exit(1);
  },
);

/**
 * The decode-and-cut half of streaming ingest alone, with no NATS and no database: the hour-long
 * speech MP3 (speech-mp3.ts) is piped into ffmpeg's stdin as a download would be, decoded by
 * `decodePcmStream` and cut by `ChunkStream` into padded chunk WAVs. Prints, per run, the wall
 * time, this process's CPU (node), ffmpeg's CPU (the reaped child), how many pieces of PCM node
 * took from ffmpeg and how many chunks were cut. What this measures is the floor the whole ingest
 * (bench scenario hour_stream) adds its recording and publishing to.
 *
 *   npm run bench:decode-cut [-- RUNS]
 */
import fs from "node:fs";
import os from "node:os";
import { decodePcmStream } from "../orchestrator/ingest/audio-decode.ts";
import { ChunkStream } from "../orchestrator/ingest/chunk-stream.ts";
import { speechMp3 } from "./speech-mp3.ts";

const CLK_TCK = 100; // Linux USER_HZ

/** CPU seconds of this process's reaped children (ffmpeg). */
function childrenCpuS(): number {
  const fields = fs.readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[13]) + Number(fields[14])) / CLK_TCK;
}

async function once(mp3: string): Promise<Record<string, number>> {
  const cut = new ChunkStream(60);
  let pieces = 0;
  let chunks = 0;
  const cpu0 = process.cpuUsage();
  const child0 = childrenCpuS();
  const t0 = performance.now();
  const decode = decodePcmStream("stdin", (pcm) => {
    pieces += 1;
    chunks += cut.push(pcm).length;
  });
  fs.createReadStream(mp3).pipe(decode.stdin!);
  const samples = await decode.done;
  chunks += cut.end().length;
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    wall_s: Math.round(wallS * 100) / 100,
    node_cpu_s: Math.round((cpu.user + cpu.system) / 1e4) / 100,
    ffmpeg_cpu_s: Math.round((childrenCpuS() - child0) * 100) / 100,
    pcm_pieces: pieces,
    chunks,
    audio_min: Math.round(samples / 16_000 / 60),
  };
}

const runs = Number(process.argv[2] ?? 3);
const mp3 = await speechMp3(60);
process.stdout.write(
  `decode-cut on ${os.cpus().length} CPUs, load ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}\n`,
);
for (let i = 0; i < runs; i++) process.stdout.write(`${JSON.stringify(await once(mp3))}\n`);

/**
 * The shared Object Store writer (contract/object-writer.ts) against a real nats-server: transcript
 * files the orchestrator stores through it read back byte for byte through the client library's get
 * (which checks the digest with its own SHA-256) and through contract/object-reader.ts; storing a file
 * again replaces it, leaving one metadata message and none of the earlier file's chunks; a name
 * written as "new" (a worker's result) cannot be written a second time; bytes that arrive as a stream
 * (an upload file) are cut into whole chunks as they come and carry the digest of the whole.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { ObjectWriter } from "../contract/object-writer.ts";
import { objectMetaSubject, wireNames } from "../contract/wire.ts";
import { NatsWorkQueue } from "../orchestrator/queue/nats-work-queue.ts";
import { startTestNats, uniquePrefix } from "./support/nats.ts";

test("a transcript file stored again replaces the earlier one: read back whole by the client and the reader, its old chunks purged", async (t) => {
  const nats = await startTestNats(t);
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-object-writer-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const names = wireNames(uniquePrefix("objw"));
  const queue = await NatsWorkQueue.open(nc, names, { ackWaitMs: 30_000, maxDeliver: 3, audioDir: path.join(dir, "audio") });
  const store = await new Objm(jetstream(nc)).open(names.transcriptsBucket);
  const jsm = await jetstreamManager(nc);
  const stream = `OBJ_${names.transcriptsBucket}`;

  // three chunks of 128 KiB and a bit: base64 of random bytes, a string like a rendered transcript
  const first = randomBytes(300 * 1024).toString("base64");
  await queue.putTranscriptFile("ep1/transcript.json", first);
  const firstInfo = (await store.info("ep1/transcript.json"))!;
  assert.equal(firstInfo.chunks, 4);
  assert.equal(new TextDecoder().decode(await store.getBlob("ep1/transcript.json")), first, "the client's get checks size and digest");
  assert.equal(new TextDecoder().decode(await queue.getTranscriptFile("ep1/transcript.json")), first);

  const second = "a shorter transcript\n";
  await queue.putTranscriptFile("ep1/transcript.json", second);
  assert.equal(new TextDecoder().decode(await store.getBlob("ep1/transcript.json")), second);
  assert.equal(new TextDecoder().decode(await queue.getTranscriptFile("ep1/transcript.json")), second);
  const subjects = (await jsm.streams.info(stream, { subjects_filter: ">" })).state.subjects ?? {};
  assert.equal(subjects[objectMetaSubject(names.transcriptsBucket, "ep1/transcript.json")], 1, "one metadata message: the new one rolled the old up");
  assert.equal(subjects[`$O.${names.transcriptsBucket}.C.${firstInfo.nuid}`], undefined, "the earlier file's chunks are purged");
  assert.equal(Object.keys(subjects).length, 2, "the new file's one chunk and its metadata");
});

test("an object written as new cannot be written again under its name", async (t) => {
  const nats = await startTestNats(t);
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const bucket = uniquePrefix("objn");
  const store = await new Objm(jetstream(nc)).create(bucket);
  const writer = new ObjectWriter(jetstream(nc), bucket, 16);
  const bytes = new TextEncoder().encode('{"words":["a","b","c"]}');
  const written = await writer.put("c1/n/attempt-1.json", bytes, { mode: "new" });
  assert.deepEqual(written.chunks, 2, "16-byte chunks");
  assert.deepEqual(await store.getBlob("c1/n/attempt-1.json"), bytes);
  await assert.rejects(
    writer.put("c1/n/attempt-1.json", new TextEncoder().encode("forged"), { mode: "new", outageWindowMs: 0 }),
    /wrong last sequence/,
  );
  assert.deepEqual(await store.getBlob("c1/n/attempt-1.json"), bytes, "the first object stands");
});

test("bytes that arrive as a stream of odd-sized pieces are stored in whole chunks, with the digest of the whole", async (t) => {
  const nats = await startTestNats(t);
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const bucket = uniquePrefix("objs");
  const store = await new Objm(jetstream(nc)).create(bucket);
  const writer = new ObjectWriter(jetstream(nc), bucket, 1000);
  const whole = randomBytes(4321);
  // pieces smaller than, equal to and larger than a chunk, and an empty one
  const cuts = [0, 7, 7, 1007, 2007, 3500, 4321];
  const stream = (async function* () {
    for (let i = 1; i < cuts.length; i++) yield whole.subarray(cuts[i - 1], cuts[i]);
  })();
  const written = await writer.put("streamed.bin", stream, { mode: "new" });
  assert.equal(written.size, 4321);
  assert.equal(written.chunks, 5, "1000-byte chunks and a last one of 321");
  assert.equal(written.digest, (await writer.put("whole.bin", whole, { mode: "new" })).digest, "the digest of the same bytes put whole");
  assert.deepEqual(Buffer.from((await store.getBlob("streamed.bin"))!), whole, "the client's get checks size and digest");
  const jsm = await jetstreamManager(nc);
  const sizes: number[] = [];
  for (let seq = 1; seq <= written.chunks; seq++) sizes.push((await jsm.streams.getMessage(`OBJ_${bucket}`, { seq }))!.data.length);
  assert.deepEqual(sizes, [1000, 1000, 1000, 1000, 321]);
});

/**
 * Reading Object Store objects without a consumer (contract/object-reader.ts) against a
 * real nats-server: objects the client library wrote (in many chunks) and one a worker wrote with
 * ResultWriter read back byte for byte; a missing or deleted object is null; a link is refused; an
 * object whose metadata does not match its data is an ObjectIntegrityError, not wrong bytes.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { objectMetaSubject } from "../contract/wire.ts";
import { ResultWriter } from "../machine-image/worker/result-writer.ts";
import { ObjectIntegrityError, ObjectReader } from "../contract/object-reader.ts";
import { startTestNats, uniquePrefix } from "./support/nats.ts";

test("objects read back through message gets match what was written; missing, deleted, linked and corrupt objects are told apart", async (t) => {
  const nats = await startTestNats(t);
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const js = jetstream(nc);
  const bucket = uniquePrefix("objr");
  const store = await new Objm(js).create(bucket);
  const reader = new ObjectReader(store, await jetstreamManager(nc), bucket);

  // several chunks, and a second object interleaved so that its chunks sit between the first one's
  const big = randomBytes(300 * 1024);
  await store.putBlob({ name: "ep1/transcript.json", options: { max_chunk_size: 64 * 1024 } }, big);
  await store.putBlob({ name: "ep2/transcript.txt" }, new TextEncoder().encode("hello\n"));
  assert.ok(Buffer.from((await reader.read("ep1/transcript.json"))!).equals(big), "five chunks, in order");
  assert.equal(new TextDecoder().decode(await reader.read("ep2/transcript.txt")), "hello\n");
  await store.putBlob({ name: "empty" }, new Uint8Array());
  assert.equal((await reader.read("empty"))?.length, 0);

  // written the way a worker writes a result (no client library, its own metadata)
  const result = new TextEncoder().encode(JSON.stringify({ words: ["a", "b"] }));
  await new ResultWriter(js, bucket, 16).put("c1/attempt-1.json", result);
  assert.deepEqual(await reader.read("c1/attempt-1.json"), result);

  assert.equal(await reader.read("nope"), null);
  await store.delete("ep2/transcript.txt");
  assert.equal(await reader.read("ep2/transcript.txt"), null, "a deleted object is gone");

  await store.link("alias", (await store.info("ep1/transcript.json"))!);
  await assert.rejects(reader.read("alias"), /is a link/);

  // metadata that promises other bytes than the chunks hold
  const info = (await store.info("ep1/transcript.json"))!;
  await js.publish(objectMetaSubject(bucket, "forged"), JSON.stringify({ ...info, name: "forged", size: info.size - 1 }));
  await assert.rejects(reader.read("forged"), ObjectIntegrityError);
  await js.publish(objectMetaSubject(bucket, "forged2"), JSON.stringify({ ...info, name: "forged2", digest: "SHA-256=AAAA" }));
  await assert.rejects(reader.read("forged2"), ObjectIntegrityError);
});

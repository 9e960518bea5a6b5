// Retrying through a NATS outage (contract/nats-retry.ts) against a real nats-server: a server that
// stops answering (SIGSTOP) makes a publish time out, the retry lands once it answers again, and
// the message id keeps the stream at one copy, and the orchestrator's result and transcript reads wait it
// out; an error that is the request's own fault is final.
// An API request that meets such an outage answers 503, so clients retry.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import test from "node:test";
import { connect, errors } from "@nats-io/transport-node";
import { Hono } from "hono";
import { renderError } from "../orchestrator/http/api-error.ts";
import { createLogger } from "../orchestrator/log.ts";
import { jetstream, jetstreamManager, JetStreamApiError } from "@nats-io/jetstream";
import { isTransientNatsError, retryThroughNatsOutage } from "../contract/nats-retry.ts";
import { wireNames, type ChunkTranscript } from "../contract/wire.ts";
import { ResultWriter } from "../machine-image/worker/result-writer.ts";
import { NatsWorkQueue } from "../orchestrator/queue/nats-work-queue.ts";
import { startTestNats, uniquePrefix } from "./support/nats.ts";
import { stopProcess } from "./support/stopped-process.ts";

test("a publish retried through a server that stopped answering lands once when it answers again", async (t) => {
  const nats = await startTestNats(t);
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
  t.after(() => nc.close());
  const stream = uniquePrefix("retry");
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
  const js = jetstream(nc, { timeout: 500 });

  const pid = nats.server.pid!;
  stopProcess(pid); // returns once every thread is stopped (support/stopped-process.ts)
  let resumed = false;
  t.after(() => {
    if (!resumed) process.kill(pid, "SIGCONT");
  });
  const errors: unknown[] = [];
  const ack = await retryThroughNatsOutage(() => js.publish(`${stream}.job`, "hello", { msgID: "job-1" }), {
    windowMs: 30_000,
    onRetry: (error) => {
      errors.push(error);
      if (!resumed) {
        resumed = true;
        process.kill(pid, "SIGCONT");
      }
    },
  });
  assert.ok(errors.length >= 1, "the first attempt failed while the server was stopped");
  assert.ok(errors.every(isTransientNatsError), "every retried error is a transient one");
  assert.equal(ack.stream, stream);
  const info = await jsm.streams.info(stream);
  assert.equal(info.state.messages, 1, "the retry did not add a second copy");
});

test("a result or transcript read from a server that stopped answering for longer than a request waits succeeds once it answers again", async (t) => {
  const nats = await startTestNats(t);
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
  t.after(() => nc.close());
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-read-retry-"));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const names = wireNames(uniquePrefix("read"));
  const queue = await NatsWorkQueue.open(nc, names, { ackWaitMs: 30_000, maxDeliver: 3, audioDir: path.join(dataDir, "audio") });
  const transcript: ChunkTranscript = { v: 1, chunkId: "ep1-c0000", attempt: 1, engine: "synthetic", words: [{ text: "hello", start: 0, end: 0.5 }] };
  await queue.putTranscriptFile("ep1/transcript.txt", "hello\n");
  // written as a worker writes it
  await new ResultWriter(jetstream(nc), names.resultsBucket).put("ep1-c0000/result.json", new TextEncoder().encode(JSON.stringify(transcript)));

  // each read meets a server that stays stopped past the client's default request timeout (5 s)
  const pid = nats.server.pid!;
  let stopped = false;
  t.after(() => {
    if (stopped) process.kill(pid, "SIGCONT");
  });
  const outage = async <T>(read: () => Promise<T>): Promise<T> => {
    stopProcess(pid); // returns once every thread is stopped (support/stopped-process.ts)
    stopped = true;
    const resume = setTimeout(() => {
      stopped = false;
      process.kill(pid, "SIGCONT");
    }, 6_000);
    try {
      return await read();
    } finally {
      clearTimeout(resume);
      if (stopped) {
        stopped = false;
        process.kill(pid, "SIGCONT");
      }
    }
  };
  assert.deepEqual(await outage(() => queue.getChunkTranscript("ep1-c0000/result.json")), transcript);
  assert.equal(Buffer.from((await outage(() => queue.getTranscriptFile("ep1/transcript.txt")))!).toString("utf8"), "hello\n");
});

test("the queue's streams and buckets are made once a server that stopped answering at start answers again", async (t) => {
  const nats = await startTestNats(t);
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1 });
  t.after(() => nc.close());
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-open-retry-"));
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const pid = nats.server.pid!;
  // stopped past the client's request timeout (5 s), as a cluster electing leaders after a node loss may be
  stopProcess(pid); // returns once every thread is stopped (support/stopped-process.ts)
  let resumed = false;
  const resume = (): void => {
    if (!resumed) process.kill(pid, "SIGCONT");
    resumed = true;
  };
  t.after(resume);
  const retries: unknown[] = [];
  const timer = setTimeout(resume, 6_000);
  t.after(() => clearTimeout(timer));
  const names = wireNames(uniquePrefix("open"));
  const queue = await NatsWorkQueue.open(nc, names, {
    ackWaitMs: 30_000,
    maxDeliver: 3,
    audioDir: path.join(dataDir, "audio"),
    onRetry: (error) => retries.push(error),
  });
  assert.ok(retries.length >= 1 && retries.every(isTransientNatsError), "the first attempt met the stopped server and was made again");
  assert.equal((await (await jetstreamManager(nc)).streams.info(names.jobsStream)).config.name, names.jobsStream);
  assert.ok(queue.resources.results, "the buckets are there");
});

test("a publish nobody answers (a stream's leader lost, no successor yet) is retried and lands once the stream answers", async (t) => {
  // With a cluster node SIGKILLed, a stream whose leader it was has nobody answering its subjects
  // until a new leader is elected: the client reports that as "JetStream not enabled" wrapping the
  // no-responders error. Here the stream does not exist yet when the publish starts, which looks the
  // same to the client, and is made while the publish is retrying.
  const nats = await startTestNats(t);
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const stream = uniquePrefix("leaderless");
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc, { timeout: 500 });
  const retried: unknown[] = [];
  const ack = await retryThroughNatsOutage(() => js.publish(`${stream}.event`, "claimed", { msgID: "claim-1" }), {
    windowMs: 30_000,
    onRetry: (error) => {
      retried.push(error);
      if (retried.length === 1) void jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    },
  });
  assert.ok(retried.length >= 1, "the first publish met nobody answering");
  assert.equal((retried[0] as Error).name, "JetStreamNotEnabled", "the client names it JetStream not enabled");
  assert.equal(ack.stream, stream);
  assert.equal((await jsm.streams.info(stream)).state.messages, 1);
});

test("an error the request causes itself is not retried", async (t) => {
  const nats = await startTestNats(t);
  const nc = await connect({ servers: nats.url });
  t.after(() => nc.close());
  const stream = uniquePrefix("final");
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
  const js = jetstream(nc);
  let attempts = 0;
  await assert.rejects(
    retryThroughNatsOutage(
      async () => {
        attempts += 1;
        // a stale expected sequence: the server refuses it (400), and it would refuse it again
        return js.publish(`${stream}.job`, "x", { expect: { lastSequence: 42 } });
      },
      { windowMs: 10_000 },
    ),
    (err: unknown) => err instanceof JetStreamApiError && !isTransientNatsError(err),
  );
  assert.equal(attempts, 1);
});

test("an API request that meets a NATS outage answers 503 with Retry-After, not 500", async () => {
  const app = new Hono();
  app.onError(renderError(createLogger("silent")));
  app.get("/outage", () => {
    throw new errors.TimeoutError();
  });
  app.get("/bug", () => {
    throw new Error("a bug");
  });
  const outage = await app.request("/outage");
  assert.equal(outage.status, 503);
  assert.equal(outage.headers.get("retry-after"), "2");
  assert.equal(((await outage.json()) as { error: { code: string } }).error.code, "unavailable");
  assert.equal((await app.request("/bug")).status, 500, "anything else is still an internal error");
});

/**
 * What a lost NATS node costs object-store reads (transcripts, chunk audio, results): a 3-node
 * JetStream cluster, one R3 object store with a few small objects, each read timed before and
 * after the node leading the store's stream is SIGKILLed and left down, then once it is back.
 * Each read goes through the client's `getBlob`, which creates an ephemeral ordered consumer; a
 * read whose create request gets no answer fails with the client's request timeout (5 s), and
 * this script counts those. Each round then reads the same objects the way the orchestrator reads
 * results and transcripts (contract/object-reader.ts: message gets answered by the stream's leader,
 * no consumer; a 1.5 s API timeout, retried through the outage).
 * It explains the slow transcript reads after the faults of test/multi-orchestrator.test.ts.
 * Usage: `npm run bench:object-read-node-loss [-- ROUNDS]` (default 5 rounds of 4 reads after the loss).
 */
import { jetstream } from "@nats-io/jetstream";
import { Objm } from "@nats-io/obj";
import { connect } from "@nats-io/transport-node";
import { retryThroughNatsOutage } from "../contract/nats-retry.ts";
import { READ_API_TIMEOUT_MS } from "../orchestrator/queue/nats-work-queue.ts";
import { ObjectReader } from "../contract/object-reader.ts";
import { suiteCleanup } from "../test/support/cleanup.ts";
import { streamLeader } from "../test/support/cluster-probe.ts";
import { startNatsCluster } from "../test/support/nats-cluster.ts";
import { until } from "../test/support/until.ts";

const rounds = Number(process.argv[2] ?? 5);
const OBJECTS = 4;
const cleanup = suiteCleanup();
try {
  const cluster = await startNatsCluster(cleanup, { size: 3 });
  const nc = await connect({ servers: [...cluster.urls] });
  cleanup.after(() => nc.close());
  const store = await new Objm(jetstream(nc)).create("bench_reads", { replicas: 3 });
  for (let i = 0; i < OBJECTS; i++) await store.putBlob({ name: `o${i}` }, new TextEncoder().encode("x".repeat(4000)));
  const readJs = jetstream(nc, { timeout: READ_API_TIMEOUT_MS });
  const reader = new ObjectReader(await new Objm(readJs).open("bench_reads"), await readJs.jetstreamManager(), "bench_reads");
  const plainRead = (name: string) => store.getBlob(name);
  const orchestratorRead = (name: string) => retryThroughNatsOutage(() => reader.read(name), { windowMs: 15_000 });

  /** Times one read of every object: milliseconds, and the reads that failed. */
  const timed = async (read: (name: string) => Promise<Uint8Array | null>): Promise<{ ms: number[]; failed: number }> => {
    const ms: number[] = [];
    let failed = 0;
    for (let i = 0; i < OBJECTS; i++) {
      const start = performance.now();
      const ok = await read(`o${i}`).then(
        (b) => b !== null,
        () => false,
      );
      ms.push(Math.round(performance.now() - start));
      if (!ok) failed += 1;
    }
    return { ms, failed };
  };
  const round = () => timed(plainRead);
  const report = (label: string, r: { ms: number[]; failed: number }) =>
    console.log(`${label.padEnd(22)} ${r.ms.map((m) => `${m}`.padStart(5)).join(" ")} ms   failed ${r.failed}/${OBJECTS}`);

  /** Waits until the store answers again (its stream has a leader: elected after the loss, or current after the restart). */
  const storeAnswers = () =>
    until(
      "the store to answer",
      () =>
        store.status().then(
          () => true,
          () => undefined,
        ),
      60_000,
      250,
    );

  report("before the loss", await round());
  const victim = await streamLeader(cluster, "OBJ_bench_reads");
  victim.kill("SIGKILL");
  await storeAnswers();
  console.log(`SIGKILLed ${victim.name} (leading the store's stream); the store answers again`);
  let failed = 0;
  let orchestratorFailed = 0;
  for (let r = 1; r <= rounds; r++) {
    const result = await round();
    failed += result.failed;
    report(`after, round ${r}`, result);
    const ours = await timed(orchestratorRead);
    orchestratorFailed += ours.failed;
    report(`  orchestrator's read`, ours);
  }
  console.log(
    `reads failed after the loss: ${failed} of ${rounds * OBJECTS} plain, ${orchestratorFailed} of ${rounds * OBJECTS} the orchestrator's way`,
  );
  await victim.restart();
  await storeAnswers();
  console.log(`${victim.name} restarted and current again`);
  for (let r = 1; r <= 2; r++) report(`node back, round ${r}`, await round());
} finally {
  await cleanup.run();
}

/**
 * A paused leader (SIGSTOP past its lease, then SIGCONT) does no duplicate side effect, on the
 * cluster stack (support/cluster-stack.ts). The pause is taken at the worst moment we can reach
 * from outside: inside the leader's autoscaler pass, the instant the Machines runtime sees the
 * leader's first machine appear (the runtime runs in this process, so its 'state' event stops the
 * leader synchronously, before the create call has even been answered). The follower takes over;
 * the old leader resumes in the middle of its pass. Then: the fleet cap held at every instant and
 * no machine was created under the old term after the resume; each episode's callback reached
 * the receiving server exactly once; each chunk result was applied once; the resumed orchestrator
 * stepped down (measured and printed).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { TERM_METADATA_KEY } from "../orchestrator/fleet/autoscaler.ts";
import type { Machine } from "../orchestrator/fleet/machine.ts";
import { chunksNotDoneOnce, leaderAndFollower, dbRows, leaderView, submitAudioUrl } from "./support/cluster-probe.ts";
import { startClusterStack, withStackLogs } from "./support/cluster-stack.ts";
import type { CleanupContext } from "./support/cleanup.ts";
import { serveFiles } from "./support/file-server.ts";
import { speechEpisode } from "./support/fleet-stack.ts";
import { waitFinished } from "./support/up-process.ts";
import { until } from "./support/until.ts";

const MAX_MACHINES = 2;

/** A callback receiver on 127.0.0.1 that answers 200 and counts deliveries per episode. */
async function callbackReceiver(t: CleanupContext): Promise<{ url: string; received: Map<string, string[]> }> {
  const received = new Map<string, string[]>();
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (b: Buffer) => (body += b.toString()));
    req.on("end", () => {
      try {
        const episodeId = (JSON.parse(body) as { data: { episodeId: string } }).data.episodeId;
        received.set(episodeId, [...(received.get(episodeId) ?? []), String(req.headers["webhook-id"])]);
      } catch {
        // not a callback: counted nowhere, and the assertion on counts will say so
      }
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

test("a leader paused past its lease mid-pass and resumed: no duplicate machine, callback or chunk result; it steps down", async (t) => {
  const audioDir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-pause-audio-"));
  t.after(() => fs.rmSync(audioDir, { recursive: true, force: true }));
  const episodes = [await speechEpisode(audioDir, 6), await speechEpisode(audioDir, 8)];
  const audio = await serveFiles(t, Object.fromEntries(episodes.map((p, i) => [`/${i}.wav`, { path: p, contentType: "audio/wav" }])));
  const hooks = await callbackReceiver(t);

  const stack = await startClusterStack(t, 2, { maxMachines: MAX_MACHINES, env: { PODFLEET_IDLE_TIMEOUT_SEC: "3" } });
  await withStackLogs(stack, async () => {
    const { leader, follower } = await leaderAndFollower(stack.orchestrators);
    const oldTerm = (await leaderView(leader.url))!.term;
    const pid = leader.up.child.pid!;

    // SIGSTOP the leader the instant the runtime sees its first machine: inside its autoscaler pass
    let pausedAt = 0;
    const created: Array<{ at: number; machine: Machine }> = [];
    const onState = (m: Machine): void => {
      if (created.some((c) => c.machine.id === m.id)) return;
      created.push({ at: Date.now(), machine: m });
      if (pausedAt === 0) {
        process.kill(pid, "SIGSTOP");
        pausedAt = Date.now();
      }
    };
    stack.runtime.on("state", onState);
    t.after(() => {
      stack.runtime.off("state", onState);
      if (leader.up.child.exitCode === null) process.kill(pid, "SIGCONT");
    });

    const ids = await Promise.all(episodes.map((_, i) => submitAudioUrl(follower.url, `${audio.url}/${i}.wav`, { callbackUrl: hooks.url })));
    await until("the leader paused", () => (pausedAt > 0 ? true : undefined), 240_000, 50);
    t.diagnostic(`paused orchestrator ${leader.name} (term ${oldTerm}) as its first machine appeared`);

    const takeover = await until(
      "the follower to lead",
      async () => {
        const v = await leaderView(follower.url);
        return v?.self && v.holder === v.instance ? v : undefined;
      },
      60_000,
      100,
    );
    t.diagnostic(`follower ${follower.name} leads (term ${takeover.term}) ${Date.now() - pausedAt} ms after the pause`);
    assert.ok(takeover.term !== null && oldTerm !== null && takeover.term > oldTerm, `a new, higher term: ${oldTerm} → ${takeover.term}`);

    const resumedAt = Date.now();
    process.kill(pid, "SIGCONT");
    const steppedDown = await until(
      "the resumed orchestrator to step down",
      async () => {
        const v = await leaderView(leader.url);
        return v && !v.self && v.holder === takeover.instance ? Date.now() : undefined;
      },
      30_000,
      50,
    );
    t.diagnostic(`resumed orchestrator answered as a follower ${steppedDown - resumedAt} ms after SIGCONT`);

    for (const id of ids) {
      const s = await waitFinished(follower.url, id, 300_000, () => stack.logs());
      assert.equal(s.status, "done", `${id}: ${s.error}`);
    }
    await until("a callback for every episode", () => (ids.every((id) => hooks.received.has(id)) ? true : undefined), 120_000);
    await until("every machine destroyed", () => (stack.runtime.snapshot().every((m) => m.state === "destroyed") ? true : undefined), 60_000);

    // No duplicate side effects.
    assert.ok(stack.recorder.maxLive <= MAX_MACHINES, `at most ${MAX_MACHINES} live machines at once, saw ${stack.recorder.maxLive}`);
    const lateOldTerm = created.filter((c) => c.at >= resumedAt && c.machine.config?.metadata?.[TERM_METADATA_KEY] === String(oldTerm));
    assert.deepEqual(
      lateOldTerm.map((c) => c.machine.id),
      [],
      "no machine created under the old term after the resume",
    );
    for (const id of ids) assert.equal(hooks.received.get(id)?.length, 1, `one callback for ${id}: ${JSON.stringify(hooks.received.get(id))}`);
    const deliveries = await dbRows<{ episode_id: string; state: string; attempts: number }>(stack.sqld.url, {
      sql: `SELECT episode_id, state, attempts FROM deliveries WHERE episode_id IN (${ids.map(() => "?").join(",")})`,
      args: ids,
    });
    assert.deepEqual(
      deliveries.map((d) => [d.state, Number(d.attempts)]),
      ids.map(() => ["delivered", 1]),
      "each delivery delivered at its first attempt",
    );
    assert.deepEqual(await chunksNotDoneOnce(stack.sqld.url, ids), [], "every chunk result applied exactly once");
  });
});

/**
 * The autoscaler against a Machines API that rate-limits like Fly (the local runtime's default:
 * creates about 1/s, bursts of 3): a backlog that wants six machines at once meets 429s, waits
 * them out (Retry-After), and still gets every machine it asked for, never more than the cap.
 * The machines are sleepers that take no work, so the backlog stays and the cap is what stops it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { api } from "./support/ingest-stack.ts";
import { RuntimeRecorder, SLEEPER_IMAGE, speechEpisode, startFleetStack, submitFile, until } from "./support/fleet-stack.ts";

test("six creates at once meet 429s, respect Retry-After, and stop at the cap of 6", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-fleet-429-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const audio = await speechEpisode(dir, 8);
  const orch = await startFleetStack(t, { PODFLEET_MAX_MACHINES: "6", PODFLEET_MAX_STARTING: "6", PODFLEET_WORKER_IMAGE: SLEEPER_IMAGE });
  const runtime = orch.localRuntime!;
  const recorder = new RuntimeRecorder(runtime);
  t.after(() => recorder.stop());

  const began = Date.now();
  await submitFile(orch.url, audio);
  await until("six live machines", () => (recorder.live() >= 6 ? true : undefined), 60_000);
  const tookMs = Date.now() - began;
  assert.ok(runtime.rateLimitedCount > 0, "the burst of creates met the rate limit");

  // Several more passes with the backlog still there: the cap holds, nothing else is created.
  const passes = async () => {
    for (let i = 0; i < 3; i += 1) await orch.fleet.controller.pass({ sweep: false, scale: true });
  };
  await passes();
  assert.equal(recorder.created, 6, `created ${recorder.created} machines`);
  assert.equal(recorder.maxLive, 6, `runtime saw ${recorder.maxLive} live machines at most`);
  const fleet = await api(orch.url, "GET", "/v1/fleet");
  assert.equal(fleet.status, 200);
  t.diagnostic(`6 machines live ${tookMs} ms after the submit; ${runtime.rateLimitedCount} requests answered 429 on the way`);
});

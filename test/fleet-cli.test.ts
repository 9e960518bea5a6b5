/**
 * Fleet limits at runtime through the HTTP API and the CLI: a bad value is a 400 naming the field
 * (CLI: non-zero exit and one line), a good one is persisted in libSQL and shown by `fleet show`;
 * `machines list` and `machines reap --dry-run` run against a live orchestrator.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Orchestrator } from "../orchestrator/orchestrator.ts";
import { errorLines, runCli } from "./support/cli.ts";
import { api, startStack, suiteCleanup } from "./support/ingest-stack.ts";

const suite = suiteCleanup();
let orch: Orchestrator;
before(async () => {
  orch = await startStack(suite);
});
after(() => suite.run());

test("PUT /v1/fleet/limits: bad values are 400s naming the field; good ones persist and show in GET /v1/fleet", async () => {
  const bad: Array<[unknown, RegExp]> = [
    [{ maxMachines: -3 }, /^maxMachines: /],
    [{ guest: { cpuKind: "shared", cpus: 2, memoryMb: 300 } }, /^guest\.memoryMb: .*256/],
    [{ regions: "iad" }, /^regions: /],
    [{ warpPool: 1 }, /^warpPool: is not a fleet limit/],
    ["not json", /not valid JSON/],
  ];
  for (const [body, message] of bad) {
    const res = await api(orch.url, "PUT", "/v1/fleet/limits", body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.match(res.body.error.message, message);
  }
  const ok = await api(orch.url, "PUT", "/v1/fleet/limits", {
    maxMachines: 7,
    regions: ["iad", "ord"],
    guest: { size: "performance-2x" },
    dailyBudgetMachineSeconds: 3600,
  });
  assert.equal(ok.status, 200);
  const fleet = await api(orch.url, "GET", "/v1/fleet");
  assert.equal(fleet.body.limits.maxMachines, 7);
  assert.deepEqual(fleet.body.limits.regions, ["iad", "ord"]);
  assert.deepEqual(fleet.body.limits.guest, { size: "performance-2x" });
  assert.equal(fleet.body.limits.warmPool, 0, "unset limits keep their defaults");
  assert.equal(fleet.body.usage.dailyBudgetMachineSeconds, 3600);
  assert.equal(await orch.fleet.limits.get().then((l) => l.maxMachines), 7, "persisted in libSQL");
});

test("CLI: fleet limits set / fleet show / machines list / machines reap", async () => {
  const env = { PODFLEET_URL: orch.url, PODFLEET_TOKEN: orch.adminToken };
  const badSet = await runCli(["fleet", "limits", "set", "--max-machines=-1"], env, 60_000);
  assert.notEqual(badSet.code, 0);
  assert.equal(errorLines(badSet.stderr).length, 1, badSet.stderr);
  assert.match(badSet.stderr, /maxMachines/);
  const badMem = await runCli(["fleet", "limits", "set", "--cpus", "2", "--memory-mb", "1000"], env, 60_000);
  assert.notEqual(badMem.code, 0);
  assert.match(badMem.stderr, /guest\.memoryMb/);

  const set = await runCli(
    ["fleet", "limits", "set", "--max-machines", "3", "--warm-pool", "1", "--cpus", "2", "--memory-mb", "2048", "--cpu-kind", "performance"],
    env,
    60_000,
  );
  assert.equal(set.code, 0, set.stderr);
  const show = await runCli(["fleet", "show", "--json"], env, 60_000);
  assert.equal(show.code, 0, show.stderr);
  const view = JSON.parse(show.stdout);
  assert.equal(view.limits.maxMachines, 3);
  assert.equal(view.limits.warmPool, 1);
  assert.deepEqual(view.limits.guest, { cpuKind: "performance", cpus: 2, memoryMb: 2048 });
  const human = await runCli(["fleet", "show"], env, 60_000);
  assert.match(human.stdout, /live of max 3/);

  const list = await runCli(["machines", "list"], env, 60_000);
  assert.equal(list.code, 0, list.stderr);
  const reap = await runCli(["machines", "reap", "--dry-run"], env, 60_000);
  assert.equal(reap.code, 0, reap.stderr);
  assert.match(reap.stdout, /nothing to reap/);
});

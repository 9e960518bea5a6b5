/**
 * The fleet's pure decision, as tables: `plan(observed, limits, now)` for the autoscaler (cap,
 * boot concurrency, warm pool first, drain, budget, backoff, lowered cap) and the sweeper
 * (orphans, failed, wedged, lifetime, boot deadline, pool trimming, re-queueing dead leases).
 * Also the limits validation that names the bad field.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { plan, type PlanOptions } from "../orchestrator/fleet/fleet-plan.ts";
import { applyLimitsPatch, InvalidLimitsError, type FleetLimits } from "../orchestrator/fleet/fleet-limits.ts";
import type { BootFailure, FleetAction, LeasedChunk, ObservedFleet } from "../orchestrator/fleet/fleet-state.ts";
import { fleet, LIMITS, machine, NOW } from "./support/fleet-fixtures.ts";

const TUNING = { wedgedSec: 300, bootDeadlineSec: 120, lifetimeGraceSec: 60, maxDestroysPerPass: 20 };

function summarize(a: FleetAction): string {
  switch (a.kind) {
    case "blocked":
      return `blocked:${a.reason}`;
    case "create":
      return `create${a.pool ? ":pool" : ""}`;
    case "destroy":
      return `destroy:${a.machineId}:${a.reason}`;
    case "requeue":
      return `requeue:${a.machineId}${a.chunks.map((c, i) => `${i === 0 ? ":" : ","}${c.to === "dead" ? `${c.chunkId}=dead` : `${c.chunkId}@${c.generation}`}`).join("")}`;
    case "republish":
      return `republish:${a.chunks.map((c) => `${c.id}@${c.next}`).join(",")}`;
    case "note_boot_failure":
      return `note:${a.machineId}:${a.exitCode}`;
    default:
      return `${a.kind}:${a.machineId}`;
  }
}
const summary = (actions: FleetAction[]): string[] => actions.map(summarize);
const lease = (id: string, owner: string, patch: Partial<LeasedChunk> = {}): LeasedChunk => ({
  id,
  episodeId: "ep",
  owner,
  generation: 1,
  machineLosses: 0,
  ...patch,
});
const MODEL_MISSING = "whisper model /models/ggml-base.en.bin not found";
const failure = (machineId: string, agoMs: number): BootFailure => ({ machineId, at: NOW - agoMs, exitCode: 3, reason: MODEL_MISSING });
const exited = (code: number, requestedStop = false) => ({ code, requestedStop, oomKilled: false });

const cases: Array<{ name: string; fleet: ObservedFleet; limits?: Partial<FleetLimits>; options?: PlanOptions; want: string[] }> = [
  { name: "idle fleet, empty queue: nothing", fleet: fleet(), want: [] },
  { name: "12 queued, nothing live, cap 2: two creates", fleet: fleet({ queued: 12 }), want: ["create", "create"] },
  { name: "1 queued: one machine is enough", fleet: fleet({ queued: 1 }), want: ["create"] },
  { name: "cap reached: nothing more", fleet: fleet({ queued: 10, leased: 2, machines: [machine("a"), machine("b")] }), want: [] },
  {
    name: "booting machines count against the cap and against maxStarting",
    fleet: fleet({ queued: 12, machines: [machine("a", { state: "starting", leasedChunks: 0, startedAt: null })] }),
    limits: { maxMachines: 5, maxStarting: 2 },
    want: ["create"],
  },
  { name: "maxStarting 1 limits creates per pass", fleet: fleet({ queued: 12 }), limits: { maxMachines: 8, maxStarting: 1 }, want: ["create"] },
  { name: "maxMachines 0 drains: no machine, says why", fleet: fleet({ queued: 3 }), limits: { maxMachines: 0 }, want: ["blocked:drain"] },
  {
    name: "budget spent: no machine, says why",
    fleet: fleet({ queued: 3, usageTodaySec: 500 }),
    limits: { dailyBudgetMachineSeconds: 500 },
    want: ["blocked:budget"],
  },
  { name: "budget left: creates", fleet: fleet({ queued: 1, usageTodaySec: 499 }), limits: { dailyBudgetMachineSeconds: 500 }, want: ["create"] },
  { name: "in create backoff: waits", fleet: fleet({ queued: 3, createBackoffUntil: NOW + 5000 }), want: ["blocked:backoff"] },
  {
    name: "warm pool: stopped pool machines start before any create",
    fleet: fleet({
      queued: 6,
      machines: [machine("p1", { state: "stopped", pool: true, leasedChunks: 0 }), machine("p2", { state: "stopped", pool: true, leasedChunks: 0 })],
    }),
    limits: { maxMachines: 3, maxStarting: 3, warmPool: 2 },
    want: ["start:p2", "start:p1", "create:pool"].sort(),
  },
  {
    name: "lowered cap: the surplus (idle, newest first) is stopped",
    fleet: fleet({
      queued: 5,
      leased: 2,
      machines: [machine("a", { createdAt: NOW - 90_000 }), machine("b"), machine("c", { leasedChunks: 0, createdAt: NOW - 80_000 })],
    }),
    limits: { maxMachines: 1 },
    want: ["stop:c", "stop:b"],
  },
  {
    name: "orphan, failed and wedged machines are destroyed; a fresh one replaces them next pass",
    fleet: fleet({
      queued: 4,
      machines: [
        machine("orphan", { known: false, leasedChunks: 0 }),
        machine("failed", { state: "failed", leasedChunks: 0 }),
        machine("wedged", { state: "starting", stateSince: NOW - 301_000, leasedChunks: 0, startedAt: null }),
      ],
    }),
    limits: { maxMachines: 3 },
    want: ["destroy:orphan:orphan", "destroy:failed:failed", "destroy:wedged:wedged"],
  },
  {
    name: "a machine that died holding a chunk has it re-queued",
    fleet: fleet({ queued: 0, leased: 1, machines: [machine("dead", { state: "stopped" })], vanished: [{ id: "gone", leasedChunks: 1 }] }),
    want: ["requeue:dead", "requeue:gone", "mark_gone:gone", "create"],
  },
  {
    name: "a machine that ended holding a chunk waits while worker events it may have sent are not applied (its result wins)",
    fleet: fleet({
      queued: 0,
      leased: 1,
      machines: [machine("dead", { state: "stopped", leasesSettled: false })],
      vanished: [{ id: "gone", leasedChunks: 1, leasesSettled: false }],
    }),
    want: ["mark_gone:gone", "create"],
  },
  {
    name: "a machine already ended that holds a lease (a late claim) has it re-queued, and is not marked again",
    fleet: fleet({ queued: 0, leased: 2, machines: [machine("live")], endedHolders: [{ id: "late", leasedChunks: 1 }] }),
    want: ["create", "requeue:late"],
  },
  {
    name: "past max lifetime + grace: destroyed and its chunk re-queued",
    fleet: fleet({ leased: 1, machines: [machine("old", { createdAt: NOW - 3_700_000 })] }),
    want: ["destroy:old:lifetime", "requeue:old"],
  },
  {
    name: "started but never pulled within the boot deadline while work waits",
    fleet: fleet({ queued: 2, machines: [machine("stuck", { startedAt: NOW - 121_000, lastClaimAt: null, leasedChunks: 0 })] }),
    want: ["destroy:stuck:boot_deadline", "create"],
  },
  {
    name: "warm pool trimmed to N (newest kept) and expired pool machines replaced",
    fleet: fleet({
      machines: [
        machine("p-old", { state: "stopped", pool: true, leasedChunks: 0, createdAt: NOW - 4_000_000 }),
        machine("p1", { state: "stopped", pool: true, leasedChunks: 0, createdAt: NOW - 30_000 }),
        machine("p2", { state: "stopped", pool: true, leasedChunks: 0, createdAt: NOW - 20_000 }),
        machine("p3", { state: "stopped", pool: true, leasedChunks: 0, createdAt: NOW - 10_000 }),
      ],
    }),
    limits: { warmPool: 2 },
    want: ["destroy:p-old:pool_expired", "destroy:p1:pool_trim"],
  },

  // Recovery: what becomes of each chunk of a lost holder, silent holders, lost jobs.
  {
    name: "a dead machine's chunks: each re-queued at its next generation, or dead after maxMachineLosses",
    fleet: fleet({
      leased: 2,
      machines: [machine("dead", { state: "stopped", leasedChunks: 2 })],
      leases: [lease("c1", "dead"), lease("c2", "dead", { generation: 3, machineLosses: 4 })],
    }),
    want: ["requeue:dead:c1@2,c2=dead", "create", "create"],
  },
  {
    name: "maxMachineLosses is a setting",
    fleet: fleet({ leased: 1, vanished: [{ id: "gone", leasedChunks: 1 }], leases: [lease("c1", "gone", { machineLosses: 1 })] }),
    options: { recovery: { maxMachineLosses: 2, strandedAfterMs: 180_000 } },
    want: ["requeue:gone:c1=dead", "mark_gone:gone", "create"],
  },
  {
    name: "a silent holder the registry does not know (an external GPU box): its chunk re-queued",
    fleet: fleet({ leased: 1, leases: [lease("c3", "gpu-box")], silentLeases: [{ chunkId: "c3", owner: "gpu-box", silentMs: 45_000 }] }),
    want: ["requeue:gpu-box:c3@2", "create"],
  },
  {
    name: "a silent holder's other chunks, still beating, stay where they are",
    fleet: fleet({
      leased: 2,
      machines: [machine("m", { leasedChunks: 2 })],
      leases: [lease("c1", "m"), lease("c2", "m")],
      silentLeases: [{ chunkId: "c2", owner: "m", silentMs: 31_000 }],
    }),
    limits: { maxMachines: 1 },
    want: ["requeue:m:c2@2"],
  },
  {
    name: "a silent chunk of a machine the sweep recovers anyway is recovered once",
    fleet: fleet({
      leased: 1,
      machines: [machine("dead", { state: "stopped" })],
      leases: [lease("c1", "dead")],
      silentLeases: [{ chunkId: "c1", owner: "dead", silentMs: 40_000 }],
    }),
    want: ["requeue:dead:c1@2", "create"],
  },
  {
    name: "the queue drained for the stranded period: queued chunks published again at the next generation",
    fleet: fleet({ queued: 1, queueDrainedSince: NOW - 200_000, staleQueued: [{ id: "q1", episodeId: "ep", generation: 2 }] }),
    want: ["republish:q1@3", "create"],
  },
  {
    name: "the queue drained only briefly: nothing published again",
    fleet: fleet({ queued: 1, queueDrainedSince: NOW - 10_000, staleQueued: [{ id: "q1", episodeId: "ep", generation: 1 }] }),
    want: ["create"],
  },
  {
    name: "recovery is the sweep's: a scale-only pass re-queues nothing",
    fleet: fleet({
      leased: 1,
      leases: [lease("c3", "gpu-box")],
      silentLeases: [{ chunkId: "c3", owner: "gpu-box", silentMs: 45_000 }],
      queueDrainedSince: NOW - 200_000,
      staleQueued: [{ id: "q1", episodeId: "ep", generation: 1 }],
    }),
    options: { sweep: false },
    want: ["create"],
  },

  // Boot failures: noted from exit events, back-off 5 s doubling to 5 min, one probe at a time.
  {
    name: "one boot failure 2 s ago: creation waits (5 s)",
    fleet: fleet({ queued: 1, bootFailures: [failure("b1", 2_000)] }),
    want: ["blocked:boot_failure"],
  },
  {
    name: "one boot failure 6 s ago: one probe machine, not maxStarting",
    fleet: fleet({ queued: 5, bootFailures: [failure("b1", 6_000)] }),
    want: ["create"],
  },
  {
    name: "four in a row: 40 s after the last",
    fleet: fleet({ queued: 1, bootFailures: [failure("b4", 39_000), failure("b3", 60_000), failure("b2", 70_000), failure("b1", 75_000)] }),
    want: ["blocked:boot_failure"],
  },
  {
    name: "four in a row, 41 s after the last: a probe",
    fleet: fleet({ queued: 1, bootFailures: [failure("b4", 41_000), failure("b3", 60_000), failure("b2", 70_000), failure("b1", 75_000)] }),
    want: ["create"],
  },
  {
    name: "twelve in a row: capped at 5 min",
    fleet: fleet({ queued: 1, bootFailures: Array.from({ length: 12 }, (_, i) => failure(`b${i}`, 299_000 + i * 1000)) }),
    want: ["blocked:boot_failure"],
  },
  {
    name: "twelve in a row, 5 min after the last: a probe",
    fleet: fleet({ queued: 1, bootFailures: Array.from({ length: 12 }, (_, i) => failure(`b${i}`, 301_000 + i * 1000)) }),
    want: ["create"],
  },
  {
    name: "the back-off is over but the probe is still booting: wait for it",
    fleet: fleet({
      queued: 3,
      bootFailures: [failure("b1", 60_000)],
      machines: [machine("probe", { state: "starting", startedAt: null, lastClaimAt: null, leasedChunks: 0 })],
    }),
    limits: { maxMachines: 4 },
    want: ["blocked:boot_failure"],
  },
  {
    name: "a fleet machine claimed work after the failures: the back-off is over",
    fleet: fleet({ queued: 3, bootFailures: [failure("b2", 2_000), failure("b1", 3_000)], lastFleetClaimAt: NOW - 1_000 }),
    want: ["create", "create"],
  },
  {
    name: "limits, image, engine or model changed after the failures: the back-off is over",
    fleet: fleet({ queued: 3, bootFailures: [failure("b2", 2_000), failure("b1", 3_000)], settingsChangedAt: NOW - 1_000 }),
    want: ["create", "create"],
  },
  {
    name: "the daily budget stays the hard stop",
    fleet: fleet({ queued: 3, usageTodaySec: 500, bootFailures: [failure("b1", 60_000)] }),
    limits: { dailyBudgetMachineSeconds: 500 },
    want: ["blocked:budget"],
  },
  {
    name: "a machine that exited 3 before claiming work: noted as a boot failure, and creation waits",
    fleet: fleet({ queued: 1, machines: [machine("x", { state: "stopped", lastClaimAt: null, leasedChunks: 0, exit: exited(3) })] }),
    want: ["note:x:3", "blocked:boot_failure"],
  },
  {
    name: "a vanished machine whose exit event says 3, never claimed: noted, marked gone, creation waits",
    fleet: fleet({ queued: 1, vanished: [{ id: "v", leasedChunks: 0, lastClaimAt: null, exit: exited(3) }] }),
    want: ["note:v:3", "mark_gone:v", "blocked:boot_failure"],
  },
  {
    name: "a machine that never launched (failed): a boot failure",
    fleet: fleet({ queued: 2, machines: [machine("f", { state: "failed", lastClaimAt: null, leasedChunks: 0 })] }),
    want: ["note:f:null", "destroy:f:failed", "blocked:boot_failure"],
  },
  {
    name: "not boot failures: an idle exit 0, a stop we asked for, a crash after claiming work, one already noted",
    fleet: fleet({
      queued: 2,
      machines: [
        machine("idle", { state: "stopped", lastClaimAt: null, leasedChunks: 0, exit: exited(0) }),
        machine("asked", { state: "stopped", lastClaimAt: null, leasedChunks: 0, exit: exited(143, true) }),
        machine("worked", { state: "stopped", leasedChunks: 0, exit: exited(1) }),
        machine("noted", { state: "stopped", lastClaimAt: null, leasedChunks: 0, exit: exited(3), bootFailureNoted: true }),
      ],
    }),
    limits: { maxMachines: 4 },
    want: ["create", "create"],
  },
];

for (const c of cases) {
  test(`plan: ${c.name}`, () => {
    const actions = plan(c.fleet, { ...LIMITS, ...c.limits }, NOW, { tuning: TUNING, ...c.options });
    assert.deepEqual(summary(actions).sort(), [...c.want].sort());
  });
}

test("plan never creates past the cap, whatever the backlog and states", () => {
  const states = ["creating", "created", "starting", "started", "stopping", "stopped", "failed", "destroying"] as const;
  for (let seed = 0; seed < 500; seed++) {
    const rnd = (n: number) => Math.floor(Math.abs(Math.sin(seed * 9301 + n * 49297)) * 1000) % 7;
    const machines = Array.from({ length: rnd(1) }, (_, i) => machine(`m${i}`, { state: states[rnd(i + 2) % states.length]!, leasedChunks: 0 }));
    const maxMachines = rnd(99);
    const actions: FleetAction[] = plan(fleet({ queued: rnd(100) * 3, machines }), { ...LIMITS, maxMachines, maxStarting: 1 + rnd(7) }, NOW, {
      tuning: TUNING,
    });
    const live = machines.filter((m) => !["stopped", "failed"].includes(m.state)).length;
    const adds = actions.filter((a) => a.kind === "create" || a.kind === "start").length;
    assert.ok(adds === 0 || live + adds <= maxMachines, `seed ${seed}: ${live} live + ${adds} > ${maxMachines}`);
  }
});

test("limits: a bad value names its field", () => {
  const bad: Array<[unknown, string]> = [
    [{ maxMachines: -1 }, "maxMachines"],
    [{ maxStarting: 0 }, "maxStarting"],
    [{ regions: ["NOT A REGION"] }, "regions.0"],
    [{ guest: { cpuKind: "shared", cpus: 2, memoryMb: 1000 } }, "guest.memoryMb"],
    [{ warmPool: 1.5 }, "warmPool"],
    [{ dailyBudgetMachineSeconds: 0 }, "dailyBudgetMachineSeconds"],
    [{ maxMachinez: 3 }, "maxMachinez"],
  ];
  for (const [patch, field] of bad) {
    assert.throws(
      () => applyLimitsPatch(LIMITS, patch),
      (err: unknown) => err instanceof InvalidLimitsError && err.field === field,
      JSON.stringify(patch),
    );
  }
  assert.deepEqual(applyLimitsPatch(LIMITS, { maxMachines: 7, guest: { size: "performance-2x" } }), {
    ...LIMITS,
    maxMachines: 7,
    guest: { size: "performance-2x" },
  });
});

/**
 * A crash loop, simulated on the pure plan: one queued chunk, a worker that always dies 1 s after
 * its machine is created (before claiming), a pass every 2 s (the autoscaler's default). Counts the
 * machines created in the first minute and in ten minutes.
 */
function crashLoop(durationMs: number, boot: PlanOptions["boot"]): number {
  const failures: BootFailure[] = [];
  let booting: Array<{ id: string; diesAt: number }> = [];
  let created = 0;
  for (let t = 0; t < durationMs; t += 2_000) {
    const now = NOW + t;
    for (const m of booting.filter((b) => b.diesAt <= now)) failures.unshift({ machineId: m.id, at: m.diesAt, exitCode: 3, reason: MODEL_MISSING });
    booting = booting.filter((b) => b.diesAt > now);
    const machines = booting.map((b) => machine(b.id, { state: "starting", startedAt: null, lastClaimAt: null, leasedChunks: 0 }));
    const actions = plan(
      fleet({ queued: 1, machines, bootFailures: failures, settingsChangedAt: NOW - 1 }),
      { ...LIMITS, maxMachines: 4, maxStarting: 4 },
      now,
      { tuning: TUNING, ...(boot ? { boot } : {}) },
    );
    for (const a of actions) if (a.kind === "create") booting.push({ id: `m${++created}`, diesAt: now + 1_000 });
  }
  return created;
}

test("a crash loop creates a handful of machines a minute, then one every 5 minutes", (t) => {
  const firstMinute = crashLoop(60_000, undefined);
  const tenMinutes = crashLoop(600_000, undefined);
  const withoutBackoff = crashLoop(60_000, { baseMs: 0, maxMs: 0 });
  t.diagnostic(
    `machines created: ${firstMinute} in the first minute, ${tenMinutes} in ten minutes (without the back-off: ${withoutBackoff} in a minute)`,
  );
  assert.ok(firstMinute >= 2 && firstMinute <= 5, `${firstMinute} machines in the first minute`);
  assert.ok(tenMinutes <= firstMinute + 3, `${tenMinutes} machines in ten minutes`);
  assert.ok(withoutBackoff >= 15, `without the back-off the loop runs: ${withoutBackoff}`);
});

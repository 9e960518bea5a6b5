/**
 * The fleet's pure decision, as tables: `plan(observed, limits, now)` for the autoscaler (cap,
 * boot concurrency, warm pool first, drain, budget, backoff, lowered cap) and the sweeper
 * (orphans, failed, wedged, lifetime, boot deadline, pool trimming, re-queueing dead leases).
 * Also the limits validation that names the bad field.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { plan } from "../orchestrator/fleet/autoscaler.ts";
import { applyLimitsPatch, InvalidLimitsError, type FleetLimits } from "../orchestrator/fleet/fleet-limits.ts";
import type { FleetAction, ObservedFleet, ObservedMachine } from "../orchestrator/fleet/fleet-state.ts";

const NOW = Date.parse("2025-03-01T12:00:00Z");
const LIMITS: FleetLimits = {
  maxMachines: 2,
  maxStarting: 2,
  idleTimeoutSec: 30,
  maxLifetimeSec: 3600,
  regions: [],
  guest: { cpuKind: "shared", cpus: 1, memoryMb: 1024 },
  image: "img",
  warmPool: 0,
  dailyBudgetMachineSeconds: null,
};
const TUNING = { wedgedSec: 300, bootDeadlineSec: 120, lifetimeGraceSec: 60, maxDestroysPerPass: 20 };

function machine(id: string, patch: Partial<ObservedMachine> = {}): ObservedMachine {
  return { id, state: "started", region: "local", createdAt: NOW - 60_000, stateSince: NOW - 50_000, startedAt: NOW - 50_000, known: true, pool: false, lastClaimAt: NOW - 40_000, leasedChunks: 1, ...patch };
}
function fleet(patch: Partial<ObservedFleet> = {}): ObservedFleet {
  return { machines: [], vanished: [], endedHolders: [], queued: 0, leased: 0, usageTodaySec: 0, createBackoffUntil: 0, ...patch };
}
const summary = (actions: FleetAction[]): string[] =>
  actions.map((a) => (a.kind === "blocked" ? `blocked:${a.reason}` : a.kind === "create" ? `create${a.pool ? ":pool" : ""}` : `${a.kind}:${a.machineId}${a.kind === "destroy" ? `:${a.reason}` : ""}`));

const cases: Array<{ name: string; fleet: ObservedFleet; limits?: Partial<FleetLimits>; want: string[] }> = [
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
  { name: "budget spent: no machine, says why", fleet: fleet({ queued: 3, usageTodaySec: 500 }), limits: { dailyBudgetMachineSeconds: 500 }, want: ["blocked:budget"] },
  { name: "budget left: creates", fleet: fleet({ queued: 1, usageTodaySec: 499 }), limits: { dailyBudgetMachineSeconds: 500 }, want: ["create"] },
  { name: "in create backoff: waits", fleet: fleet({ queued: 3, createBackoffUntil: NOW + 5000 }), want: ["blocked:backoff"] },
  {
    name: "warm pool: stopped pool machines start before any create",
    fleet: fleet({ queued: 6, machines: [machine("p1", { state: "stopped", pool: true, leasedChunks: 0 }), machine("p2", { state: "stopped", pool: true, leasedChunks: 0 })] }),
    limits: { maxMachines: 3, maxStarting: 3, warmPool: 2 },
    want: ["start:p2", "start:p1", "create:pool"].sort(),
  },
  {
    name: "lowered cap: the surplus (idle, newest first) is stopped",
    fleet: fleet({ queued: 5, leased: 2, machines: [machine("a", { createdAt: NOW - 90_000 }), machine("b"), machine("c", { leasedChunks: 0, createdAt: NOW - 80_000 })] }),
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
];

for (const c of cases) {
  test(`plan: ${c.name}`, () => {
    const actions = plan(c.fleet, { ...LIMITS, ...c.limits }, NOW, { tuning: TUNING });
    assert.deepEqual(summary(actions).sort(), [...c.want].sort());
  });
}

test("plan never creates past the cap, whatever the backlog and states", () => {
  const states = ["creating", "created", "starting", "started", "stopping", "stopped", "failed", "destroying"] as const;
  for (let seed = 0; seed < 500; seed++) {
    const rnd = (n: number) => Math.floor(Math.abs(Math.sin(seed * 9301 + n * 49297)) * 1000) % 7;
    const machines = Array.from({ length: rnd(1) }, (_, i) => machine(`m${i}`, { state: states[rnd(i + 2) % states.length]!, leasedChunks: 0 }));
    const maxMachines = rnd(99);
    const actions = plan(fleet({ queued: rnd(100) * 3, machines }), { ...LIMITS, maxMachines, maxStarting: 1 + rnd(7) }, NOW, { tuning: TUNING });
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
    assert.throws(() => applyLimitsPatch(LIMITS, patch), (err: unknown) => err instanceof InvalidLimitsError && err.field === field, JSON.stringify(patch));
  }
  assert.deepEqual(applyLimitsPatch(LIMITS, { maxMachines: 7, guest: { size: "performance-2x" } }), { ...LIMITS, maxMachines: 7, guest: { size: "performance-2x" } });
});

/**
 * `podfleet fleet show`, `fleet events`, `fleet limits set …`, `machines list` and
 * `machines reap [--dry-run]`. Talks to the HTTP API (`/v1/fleet…`, `/v1/machines`); the read-only
 * ones never start an orchestrator. A bad limit exits 2 with one line naming it.
 */
import type { ActionOutcome } from "../fleet/fleet-controller.ts";
import type { FleetLimits } from "../fleet/fleet-limits.ts";
import type { FleetView, MachineView } from "../fleet/fleet-view.ts";
import { CliError, EXIT } from "./cli-error.ts";
import { boundedFlag } from "./cli-args.ts";
import type { CommandContext } from "./command-action.ts";
import { FLEET_EVENTS_LIMIT } from "../input-bounds.ts";
import { table } from "./table.ts";
import { safeInline, writeHuman, writeJson } from "./terminal-text.ts";
import { openTarget, requireRunning, withTarget } from "./target.ts";

type Values = Record<string, string | boolean | undefined>;

function int(values: Values, flag: string): number | undefined {
  const raw = values[flag];
  if (typeof raw !== "string") return undefined;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(n)) throw new CliError(`--${flag} must be a whole number, got "${raw}"`, 2);
  return n;
}

/** Turns `fleet limits set` flags into a PUT body; the API validates the values. */
export function limitsPatchFromFlags(values: Values): Partial<FleetLimits> {
  const patch: Record<string, unknown> = {};
  const set = (key: keyof FleetLimits, value: unknown) => {
    if (value !== undefined) patch[key] = value;
  };
  set("maxMachines", int(values, "max-machines"));
  set("maxStarting", int(values, "max-starting"));
  set("idleTimeoutSec", int(values, "idle-timeout"));
  set("maxLifetimeSec", int(values, "max-lifetime"));
  set("warmPool", int(values, "warm-pool"));
  if (typeof values.regions === "string")
    set(
      "regions",
      values.regions
        .split(",")
        .map((r) => r.trim())
        .filter(Boolean),
    );
  if (typeof values.image === "string") set("image", values.image);
  const budget = values["daily-budget"];
  if (typeof budget === "string") {
    const n = Number(budget);
    if (budget !== "none" && (budget.trim() === "" || !Number.isFinite(n)))
      throw new CliError(`--daily-budget must be a number of machine-seconds or "none", got "${budget}"`, 2);
    set("dailyBudgetMachineSeconds", budget === "none" ? null : n);
  }
  const explicit = ["cpus", "memory-mb", "cpu-kind"].some((f) => values[f] !== undefined);
  if (typeof values.size === "string") {
    if (explicit || values["gpu-kind"] !== undefined)
      throw new CliError("--size cannot be combined with --cpus, --memory-mb, --cpu-kind or --gpu-kind", 2);
    set("guest", { size: values.size });
  } else if (explicit || values["gpu-kind"] !== undefined) {
    if (values.cpus === undefined || values["memory-mb"] === undefined)
      throw new CliError("--cpus and --memory-mb go together (with --cpu-kind, default shared)", 2);
    set("guest", {
      cpuKind: values["cpu-kind"] ?? "shared",
      cpus: int(values, "cpus"),
      memoryMb: int(values, "memory-mb"),
      ...(typeof values["gpu-kind"] === "string" ? { gpuKind: values["gpu-kind"] } : {}),
    });
  }
  if (Object.keys(patch).length === 0)
    throw new CliError("fleet limits set needs at least one limit (see podfleet help fleet limits set)", EXIT.usage);
  return patch;
}

function describeGuest(g: FleetLimits["guest"]): string {
  return "size" in g ? g.size : `${g.cpuKind} ${g.cpus} cpu ${g.memoryMb} MB${g.gpuKind ? ` gpu ${g.gpuKind}` : ""}`;
}

function formatFleet(f: FleetView): string {
  const l = f.limits;
  const states =
    Object.entries(f.machines.byState)
      .map(([s, n]) => `${n} ${s}`)
      .join(", ") || "none";
  const budget = l.dailyBudgetMachineSeconds === null ? "no budget" : `budget ${l.dailyBudgetMachineSeconds}`;
  // an older orchestrator's answer has no leader field: say nothing rather than "nobody"
  const leader =
    f.leader === undefined
      ? []
      : ([
          ["leader", f.leader ? `${f.leader.holder} (term ${f.leader.term}, since ${f.leader.since})` : "none (no orchestrator holds the lease)"],
        ] as Array<[string, string]>);
  const rows: Array<[string, string]> = [
    ["fleet", f.fleetId],
    ...leader,
    ["machines", `${f.machines.live} live of max ${l.maxMachines} (${states})`],
    ["queue", `${f.queue.queued} queued, ${f.queue.leased} running`],
    ["usage", `${f.usage.machineSeconds} machine-seconds today (${f.usage.day} UTC), ${budget}`],
    ["status", f.blocked ? `blocked (${f.blocked.reason}): ${f.blocked.detail}` : f.bootFailure ? `degraded: ${f.bootFailure.detail}` : "ok"],
    ["limits", `max-starting ${l.maxStarting}, idle-timeout ${l.idleTimeoutSec}s, max-lifetime ${l.maxLifetimeSec}s, warm-pool ${l.warmPool}`],
    ["placement", `regions ${l.regions.join(",") || "(app default)"}, ${describeGuest(l.guest)}, image ${l.image}`],
  ];
  return rows.map(([k, v]) => `${k.padEnd(10)} ${v}`).join("\n") + "\n";
}

function formatAge(sec: number): string {
  if (sec < 120) return `${sec}s`;
  if (sec < 7200) return `${Math.floor(sec / 60)}m`;
  return `${Math.floor(sec / 3600)}h${Math.floor((sec % 3600) / 60)}m`;
}

function formatActions(actions: ActionOutcome[], dryRun: boolean): string {
  if (actions.length === 0) return dryRun ? "nothing to reap\n" : "nothing to reap; the fleet is clean\n";
  return actions
    .map((a) => {
      const what = "machineId" in a && a.machineId ? `${a.kind} ${a.machineId}` : a.kind;
      const why = "reason" in a ? ` (${a.reason})` : "";
      const outcome = dryRun ? "would" : a.outcome === "failed" ? `FAILED: ${a.error ?? ""}` : "done";
      return dryRun ? `would ${what}${why}` : `${what}${why}: ${outcome}`;
    })
    .join("\n")
    .concat("\n");
}

interface FleetEvent {
  id: number;
  at: string;
  machineId: string | null;
  kind: string;
  fromState: string | null;
  toState: string | null;
  reason: string | null;
  detail: string | null;
}

export async function fleetShow(ctx: CommandContext): Promise<number> {
  return withTarget(await requireRunning(ctx), async ({ api }) => {
    const view = await api.get<FleetView>("/v1/fleet");
    if (ctx.json) writeJson(view, 2);
    else writeHuman(formatFleet(view));
  });
}

export async function fleetEvents(ctx: CommandContext): Promise<number> {
  const limit = boundedFlag("limit", ctx.flags.limit as string | undefined, FLEET_EVENTS_LIMIT);
  const machine = ctx.flags.machine as string | undefined;
  const query = new URLSearchParams();
  if (limit !== undefined) query.set("limit", String(limit));
  if (machine) query.set("machine", machine);
  return withTarget(await requireRunning(ctx), async ({ api }) => {
    const { events } = await api.get<{ events: FleetEvent[] }>(`/v1/fleet/events?${query.toString()}`);
    if (ctx.json) writeJson(events, 2);
    else
      writeHuman(
        table(
          ["AT", "MACHINE", "EVENT", "STATE", "REASON"],
          events.map((e) => [
            e.at,
            e.machineId ?? "-",
            e.kind,
            e.fromState || e.toState ? `${e.fromState ?? "-"} → ${e.toState ?? "-"}` : "",
            safeInline([e.reason, e.detail].filter(Boolean).join(": ")).slice(0, 100),
          ]),
        ),
      );
  });
}

export async function limitsSet(ctx: CommandContext): Promise<number> {
  const patch = limitsPatchFromFlags(ctx.flags as Values);
  return withTarget(await openTarget(ctx), async ({ api }) => {
    const { limits } = await api.put<{ limits: FleetLimits }>("/v1/fleet/limits", patch);
    if (ctx.json) writeJson(limits, 2);
    else writeHuman(`limits updated; the next pass applies them\n`);
  });
}

export async function machinesList(ctx: CommandContext): Promise<number> {
  return withTarget(await requireRunning(ctx), async ({ api }) => {
    const { machines } = await api.get<{ machines: MachineView[] }>("/v1/machines");
    if (ctx.json) writeJson(machines, 2);
    else
      writeHuman(
        table(
          ["ID", "STATE", "AGE", "REGION", "POOL", "CHUNK"],
          machines.map((m) => [m.id, m.state, formatAge(m.ageSec), m.region, m.pool ? "yes" : "", m.currentChunk ?? "-"]),
        ),
      );
  });
}

export async function machinesReap(ctx: CommandContext): Promise<number> {
  const dryRun = ctx.flags["dry-run"] === true;
  return withTarget(await openTarget(ctx), async ({ api }) => {
    const res = await api.post<{ actions: ActionOutcome[] }>(`/v1/fleet/reap${dryRun ? "?dryRun=true" : ""}`, {});
    if (ctx.json) writeJson(res.actions, 2);
    else writeHuman(formatActions(res.actions, dryRun));
  });
}

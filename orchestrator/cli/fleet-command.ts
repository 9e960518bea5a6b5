/**
 * `podfleet fleet show [--json]`, `podfleet fleet limits set …`, `podfleet machines list [--json]`
 * and `podfleet machines reap [--dry-run]`. Talks to the HTTP API (`/v1/fleet…`, `/v1/machines`);
 * `main.ts` dispatches here. A bad limit exits non-zero with one line naming it.
 */
import type { ActionOutcome } from "../fleet/fleet-controller.ts";
import type { FleetLimits } from "../fleet/fleet-limits.ts";
import type { FleetView, MachineView } from "../fleet/fleet-view.ts";
import { CliError } from "./cli-error.ts";
import { parseCommandArgs } from "./cli-args.ts";
import { table } from "./table.ts";
import { writeHuman, writeJson } from "./terminal-text.ts";
import { openTarget } from "./target.ts";

export const FLEET_USAGE = `  fleet show [--json]                        limits, machines by state, queue depth, usage
  fleet limits set [--max-machines N] [--max-starting N] [--idle-timeout S] [--max-lifetime S]
      [--regions a,b] [--size PRESET | --cpus N --memory-mb N --cpu-kind K] [--gpu-kind K]
      [--warm-pool N] [--daily-budget S|none] [--image IMAGE]
  machines list [--json]                     worker machines: age, state, current chunk
  machines reap [--dry-run] [--json]         one sweeper pass now, printing what it did`;

const OPTIONS = {
  json: { type: "boolean", default: false },
  "dry-run": { type: "boolean", default: false },
  "data-dir": { type: "string" },
  "max-machines": { type: "string" },
  "max-starting": { type: "string" },
  "idle-timeout": { type: "string" },
  "max-lifetime": { type: "string" },
  regions: { type: "string" },
  size: { type: "string" },
  cpus: { type: "string" },
  "memory-mb": { type: "string" },
  "cpu-kind": { type: "string" },
  "gpu-kind": { type: "string" },
  "warm-pool": { type: "string" },
  "daily-budget": { type: "string" },
  image: { type: "string" },
} as const;

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
  if (typeof values.regions === "string") set("regions", values.regions.split(",").map((r) => r.trim()).filter(Boolean));
  if (typeof values.image === "string") set("image", values.image);
  const budget = values["daily-budget"];
  if (typeof budget === "string") {
    const n = Number(budget);
    if (budget !== "none" && (budget.trim() === "" || !Number.isFinite(n))) throw new CliError(`--daily-budget must be a number of machine-seconds or "none", got "${budget}"`, 2);
    set("dailyBudgetMachineSeconds", budget === "none" ? null : n);
  }
  const explicit = ["cpus", "memory-mb", "cpu-kind"].some((f) => values[f] !== undefined);
  if (typeof values.size === "string") {
    if (explicit || values["gpu-kind"] !== undefined) throw new CliError("--size cannot be combined with --cpus, --memory-mb, --cpu-kind or --gpu-kind", 2);
    set("guest", { size: values.size });
  } else if (explicit || values["gpu-kind"] !== undefined) {
    if (values.cpus === undefined || values["memory-mb"] === undefined) throw new CliError("--cpus and --memory-mb go together (with --cpu-kind, default shared)", 2);
    set("guest", {
      cpuKind: values["cpu-kind"] ?? "shared",
      cpus: int(values, "cpus"),
      memoryMb: int(values, "memory-mb"),
      ...(typeof values["gpu-kind"] === "string" ? { gpuKind: values["gpu-kind"] } : {}),
    });
  }
  if (Object.keys(patch).length === 0) throw new CliError("fleet limits set needs at least one limit (see podfleet --help)", 2);
  return patch;
}

function describeGuest(g: FleetLimits["guest"]): string {
  return "size" in g ? g.size : `${g.cpuKind} ${g.cpus} cpu ${g.memoryMb} MB${g.gpuKind ? ` gpu ${g.gpuKind}` : ""}`;
}

function formatFleet(f: FleetView): string {
  const l = f.limits;
  const states = Object.entries(f.machines.byState).map(([s, n]) => `${n} ${s}`).join(", ") || "none";
  const budget = l.dailyBudgetMachineSeconds === null ? "no budget" : `budget ${l.dailyBudgetMachineSeconds}`;
  const rows: Array<[string, string]> = [
    ["fleet", f.fleetId],
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

/** Runs `fleet …` (group "fleet") or `machines …` (group "machines"). */
export async function fleetCommand(group: "fleet" | "machines", argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandArgs(argv, OPTIONS);
  const { values, positionals } = parsed;
  const sub = positionals.join(" ");
  const known = group === "fleet" ? ["show", "limits set"] : ["list", "reap"];
  if (!known.includes(sub)) throw new CliError(`unknown ${group} command "${sub}" (${known.join(", ")})`, 2);
  const patch = sub === "limits set" ? limitsPatchFromFlags(values) : undefined;
  const out = writeHuman;
  const target = await openTarget(env, values["data-dir"]);
  try {
    if (sub === "show") {
      const view = await target.api.get<FleetView>("/v1/fleet");
      if (values.json) writeJson(view, 2);
      else out(formatFleet(view));
    } else if (sub === "limits set") {
      const { limits } = await target.api.put<{ limits: FleetLimits }>("/v1/fleet/limits", patch);
      if (values.json) writeJson(limits, 2);
      else out(`limits updated; the next pass applies them\n`);
    } else if (sub === "list") {
      const { machines } = await target.api.get<{ machines: MachineView[] }>("/v1/machines");
      if (values.json) writeJson(machines, 2);
      else
        out(
          table(
            ["ID", "STATE", "AGE", "REGION", "POOL", "CHUNK"],
            machines.map((m) => [m.id, m.state, formatAge(m.ageSec), m.region, m.pool ? "yes" : "", m.currentChunk ?? "-"]),
          ),
        );
    } else {
      const dryRun = values["dry-run"] === true;
      const res = await target.api.post<{ actions: ActionOutcome[] }>(`/v1/fleet/reap${dryRun ? "?dryRun=true" : ""}`, {});
      if (values.json) writeJson(res.actions, 2);
      else out(formatActions(res.actions, dryRun));
    }
    return 0;
  } finally {
    await target.close();
  }
}

/**
 * Fleet limits an operator sets at runtime: the cap, boot concurrency, worker timeouts, regions,
 * machine size, image, warm pool and daily budget. Defaults come from the orchestrator's settings
 * (env); a change through `PUT /v1/fleet/limits` is validated, persisted in libSQL, and read by
 * the next autoscaler/sweeper pass, so it applies without a restart.
 */
import { eq } from "drizzle-orm";
import { z } from "zod";
import { fleetLimits } from "../../db/schema.ts";
import type { Database } from "../store/database.ts";
import { GUEST_PRESETS, isGuestPreset, type CreateMachineRequest } from "./machine.ts";

/** Machine size: a Fly `size` preset, or explicit CPUs and memory (optionally a GPU kind). */
export type GuestLimits = { size: string } | { cpuKind: "shared" | "performance"; cpus: number; memoryMb: number; gpuKind?: string | undefined };

export interface FleetLimits {
  /** Hard cap on live worker machines; 0 drains the fleet (no new machines, running ones finish). */
  maxMachines: number;
  /** Machines allowed to be booting (creating/created/starting) at once. */
  maxStarting: number;
  /** A worker exits after this long without a chunk. */
  idleTimeoutSec: number;
  /** A worker takes no new chunk after this long; the sweeper destroys it past this plus a grace. */
  maxLifetimeSec: number;
  /** Regions to create machines in, tried in order on capacity errors; empty = the app's default. */
  regions: string[];
  guest: GuestLimits;
  image: string;
  /** Idle machines kept stopped (not destroyed) so the next backlog starts them in seconds. */
  warmPool: number;
  /** Once today's (UTC) machine-seconds reach this, no machine starts; null = no budget. */
  dailyBudgetMachineSeconds: number | null;
}

const REGION = /^[a-z0-9][a-z0-9-]{1,19}$/;

const Guest = z.union([
  z
    .object({
      size: z.string().refine(isGuestPreset, `must be a size preset: ${Object.keys(GUEST_PRESETS).join(", ")}`),
    })
    .strict(),
  z
    .object({
      cpuKind: z.enum(["shared", "performance"]),
      cpus: z.number().int().min(1).max(64),
      memoryMb: z
        .number()
        .int()
        .min(256)
        .max(262_144)
        .refine((n) => n % 256 === 0, "must be a multiple of 256"),
      gpuKind: z
        .string()
        .regex(/^[a-z0-9][a-z0-9-]{1,39}$/, "must be a GPU kind such as a100-pcie-40gb")
        .optional(),
    })
    .strict(),
]);

const LimitsShape = {
  maxMachines: z.number().int().min(0).max(1000),
  maxStarting: z.number().int().min(1).max(100),
  idleTimeoutSec: z.number().int().min(1).max(86_400),
  maxLifetimeSec: z
    .number()
    .int()
    .min(10)
    .max(7 * 86_400),
  regions: z.array(z.string().regex(REGION, "must be a region code such as iad or ams")).max(20),
  guest: Guest,
  image: z.string().min(1).max(500),
  warmPool: z.number().int().min(0).max(100),
  dailyBudgetMachineSeconds: z.number().positive().max(1e9).nullable(),
};
const Limits = z.object(LimitsShape).strict();
/** A PUT body: any subset of the limits. */
export const LimitsPatch = z.object(LimitsShape).partial().strict();
export type LimitsPatch = z.infer<typeof LimitsPatch>;

/** A limit value that does not validate; `field` names it (e.g. "maxMachines", "guest.memoryMb"). */
export class InvalidLimitsError extends Error {
  override name = "InvalidLimitsError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

function firstIssue(error: z.ZodError): InvalidLimitsError {
  const issue = error.issues[0]!;
  if (issue.code === "unrecognized_keys") return new InvalidLimitsError(issue.keys[0] ?? "body", "is not a fleet limit");
  // A union failure reports each branch; name the guest field the caller most likely meant.
  if (issue.code === "invalid_union" && issue.path[0] === "guest") {
    const branches = issue.errors.map((b) => b[0]).filter((b): b is z.core.$ZodIssue => b !== undefined);
    const best =
      branches.find((b) => b.code !== "unrecognized_keys" && b.code !== "invalid_type") ?? branches.find((b) => b.code !== "unrecognized_keys");
    if (best) return new InvalidLimitsError(["guest", ...best.path].join("."), best.message);
    return new InvalidLimitsError("guest", "give either size, or cpuKind, cpus and memoryMb (gpuKind optional)");
  }
  return new InvalidLimitsError(issue.path.join(".") || "body", issue.message);
}

/** Validates a whole limits object (throws InvalidLimitsError naming the first bad field). */
export function validateLimits(value: unknown): FleetLimits {
  const parsed = Limits.safeParse(value);
  if (!parsed.success) throw firstIssue(parsed.error);
  return parsed.data;
}

/** Applies a partial change on top of `current`; the result is validated as a whole. */
export function applyLimitsPatch(current: FleetLimits, patch: unknown): FleetLimits {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) throw new InvalidLimitsError("body", "must be a JSON object of limits");
  const parsed = LimitsPatch.safeParse(patch);
  if (!parsed.success) throw firstIssue(parsed.error);
  return validateLimits({ ...current, ...parsed.data });
}

/** The `guest` part of a machine config for these limits (a preset becomes its CPUs and memory). */
export function machineSizeConfig(guest: GuestLimits): Pick<CreateMachineRequest["config"], "guest"> {
  if ("size" in guest) {
    const preset = GUEST_PRESETS[guest.size];
    if (!preset) throw new InvalidLimitsError("guest.size", `unknown size preset ${guest.size}`);
    return { guest: { ...preset } };
  }
  return {
    guest: {
      cpu_kind: guest.cpuKind,
      cpus: guest.cpus,
      memory_mb: guest.memoryMb,
      ...(guest.gpuKind ? { gpu_kind: guest.gpuKind, gpus: 1 } : {}),
    },
  };
}

/** Reads and writes the one limits row; env-derived defaults fill whatever was never set. */
export class FleetLimitsStore {
  constructor(
    private readonly database: Database,
    private readonly defaults: FleetLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Current limits: the stored overrides over the defaults. Overrides that no longer validate fall back to the defaults. */
  async get(): Promise<FleetLimits> {
    try {
      return validateLimits({ ...this.defaults, ...(await this.overrides()) });
    } catch {
      return this.defaults;
    }
  }

  /**
   * Validates `patch` over the current limits and stores it with earlier overrides; returns the
   * new limits. Only fields ever set are stored, so an unset field still follows its env default.
   */
  async update(patch: unknown): Promise<FleetLimits> {
    const next = applyLimitsPatch(await this.get(), patch);
    const json = JSON.stringify({ ...(await this.overrides()), ...(patch as object) });
    const t = this.now();
    await this.database.write((db) =>
      db
        .insert(fleetLimits)
        .values({ id: 1, limitsJson: json, updatedAt: t })
        .onConflictDoUpdate({ target: fleetLimits.id, set: { limitsJson: json, updatedAt: t } }),
    );
    return next;
  }

  private async overrides(): Promise<Record<string, unknown>> {
    const row = await this.database.db.select().from(fleetLimits).where(eq(fleetLimits.id, 1)).get();
    if (!row) return {};
    try {
      const parsed: unknown = JSON.parse(row.limitsJson);
      return parsed && typeof parsed === "object" ? (parsed as Record<string, unknown>) : {};
    } catch {
      return {};
    }
  }
}

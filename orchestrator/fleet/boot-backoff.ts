/**
 * Boot failures, as pure functions: which ended machines failed to boot (ended before claiming any
 * work, by their exit event, when the worker could not say so itself), and how long machine
 * creation backs off after consecutive ones: `baseMs` after the first, doubling to `maxMs`. The
 * count restarts when the limits, image, engine or model change, or when a machine of the fleet
 * claims work. Without this, a worker that cannot start (no model, say) has the autoscaler create
 * machine after machine, each dying the same way: on Fly a paid crash loop.
 */
import { isBooting, type BootBackoffTuning, type BootFailure, type FleetAction, type ObservedFleet, type ObservedMachine } from "./fleet-state.ts";

/** The back-off in force: consecutive failures, the latest one's reason, and when the next machine may start. */
export interface BootBackoff {
  failures: number;
  reason: string;
  exitCode: number | null;
  /** Epoch ms. */
  until: number;
}

/** Delay after `failures` consecutive boot failures. */
export function bootDelayMs(failures: number, tuning: BootBackoffTuning): number {
  return failures <= 0 ? 0 : Math.min(tuning.maxMs, tuning.baseMs * 2 ** Math.min(failures - 1, 30));
}

/** The back-off after the failures that still count, or null when none does. */
export function bootBackoff(
  fleet: Pick<ObservedFleet, "bootFailures" | "settingsChangedAt" | "lastFleetClaimAt">,
  tuning: BootBackoffTuning,
): BootBackoff | null {
  const since = Math.max(fleet.settingsChangedAt, fleet.lastFleetClaimAt ?? 0);
  const counted = fleet.bootFailures.filter((f) => f.at > since).sort((a, b) => b.at - a.at);
  const latest = counted[0];
  if (!latest) return null;
  return { failures: counted.length, reason: latest.reason, exitCode: latest.exitCode, until: latest.at + bootDelayMs(counted.length, tuning) };
}

/** One line for fleet show, jobs show and transcribe. */
export function describeBootBackoff(b: BootBackoff, now: number): string {
  const next = Math.max(0, Math.ceil((b.until - now) / 1000));
  const count = `${b.failures} boot failure${b.failures === 1 ? "" : "s"}`;
  return `workers fail to start: ${b.reason} (${count}, ${next > 0 ? `next try in ${next} s` : "trying again now"})`;
}

/** Started this run and took no chunk yet (or never started): it has not shown it can boot. */
const unclaimed = (m: Pick<ObservedMachine, "lastClaimAt" | "startedAt">): boolean =>
  m.lastClaimAt === null || (m.startedAt !== null && m.lastClaimAt < m.startedAt);

/**
 * A machine still on its way up, or started without a claim: while one is, the next probe waits.
 * After boot failures, machines start one at a time until one claims work.
 */
export function probeInFlight(machines: readonly ObservedMachine[]): boolean {
  return machines.some((m) => m.known && (isBooting(m.state) || (m.state === "started" && unclaimed(m))));
}

/**
 * Ended machines of this fleet that failed to boot and are not yet recorded: they ended before
 * claiming work, with a non-zero exit they did not get asked for (or never launched). The worker's
 * own WorkerBootFailed event is recorded when it arrives; this is the fallback.
 */
export function planBootNotes(fleet: Pick<ObservedFleet, "machines" | "vanished">): Array<Extract<FleetAction, { kind: "note_boot_failure" }>> {
  const notes: Array<Extract<FleetAction, { kind: "note_boot_failure" }>> = [];
  for (const m of fleet.machines) {
    if (!m.known || m.bootFailureNoted || !unclaimed(m)) continue;
    if (m.state === "failed" || m.state === "launch_failed") {
      notes.push({ kind: "note_boot_failure", machineId: m.id, exitCode: null, reason: "the machine failed to launch its process" });
    } else if (m.state === "stopped" && m.exit && !m.exit.requestedStop && m.exit.code !== 0) {
      notes.push({ kind: "note_boot_failure", machineId: m.id, exitCode: m.exit.code, reason: exitReason(m.exit.code, m.exit.oomKilled) });
    }
  }
  for (const v of fleet.vanished) {
    if (v.bootFailureNoted || v.lastClaimAt !== null || !v.exit || v.exit.requestedStop || v.exit.code === 0) continue;
    notes.push({ kind: "note_boot_failure", machineId: v.id, exitCode: v.exit.code, reason: exitReason(v.exit.code, v.exit.oomKilled) });
  }
  return notes;
}

function exitReason(code: number, oom: boolean): string {
  return `the worker exited with code ${code}${oom ? " (out of memory)" : ""} before claiming any work (its machine's log has the reason)`;
}

/** `notes` as the failures they record, for the decision of the same pass. */
export function notedFailures(notes: ReadonlyArray<Extract<FleetAction, { kind: "note_boot_failure" }>>, now: number): BootFailure[] {
  return notes.map((n) => ({ machineId: n.machineId, at: now, exitCode: n.exitCode, reason: n.reason }));
}

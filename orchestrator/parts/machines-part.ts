/**
 * The machines part: the Machines API the fleet drives. With Fly configured, a MachinesClient for
 * Fly; otherwise the embedded local runtime, which (with the worker bundle build) is imported only
 * here and only then: the orchestrator image ships neither it nor machine-image/, and must start
 * without them.
 */
import path from "node:path";
import type { Config } from "../config.ts";
import type { LaunchSpec, LocalMachinesRuntime } from "../fleet/local-runtime.ts";
import type { Machine } from "../fleet/machine.ts";
import { MachinesClient } from "../fleet/machines-client.ts";
import type { Logger } from "../log.ts";
import { Closer } from "./closer.ts";

export interface MachinesPart {
  machines: MachinesClient;
  /** Present when the embedded local runtime runs the machines. */
  localRuntime: LocalMachinesRuntime | undefined;
  close(): Promise<void>;
}

/** How the local runtime runs a machine's image; `defaultSpec` runs the worker bundle. */
export type LaunchHook = (machine: Machine, defaultSpec: LaunchSpec) => LaunchSpec;

/** The local runtime's owner tag: the data directory (see fleet/local-runtime/leftover-machines.ts). */
function localOwner(config: Config): string {
  return path.resolve(config.dataDir);
}

/**
 * Step 0 of a start with the local runtime: the data directory is ours, so whoever ran on it
 * before is dead, and local machines a SIGKILLed run left would run on unseen, outside the cap.
 * They go before the new NATS comes up. Nothing to do with Fly.
 */
export async function killLeftoverLocalMachines(config: Config, log: Logger): Promise<void> {
  if (config.machines.kind === "fly") return;
  const { killLeftoverMachines } = await import("../fleet/local-runtime.ts");
  const killed = await killLeftoverMachines(localOwner(config));
  if (killed.length > 0) log.warn("killed worker processes a previous run left behind (it did not shut down)", { pids: killed });
}

export async function openMachinesPart(config: Config, logDir: string, log: Logger, launch?: LaunchHook): Promise<MachinesPart> {
  if (config.machines.kind === "fly") {
    const machines = new MachinesClient({ baseUrl: config.machines.apiUrl, app: config.machines.app, token: config.machines.token });
    return { machines, localRuntime: undefined, close: async () => {} };
  }
  const rateLimit = config.machines.rateLimit;
  const closer = new Closer(log);
  return closer.guard(async () => {
    const [{ LocalMachinesRuntime }, { workerLaunchSpec }, { buildWorkerBundle }] = await Promise.all([
      import("../fleet/local-runtime.ts"),
      import("../fleet/worker-launch.ts"),
      import("../../machine-image/build-worker.ts"),
    ]);
    let defaultLaunch = workerLaunchSpec();
    try {
      defaultLaunch = workerLaunchSpec(await buildWorkerBundle(path.join(config.dataDir, "worker", "worker.mjs")));
    } catch (err) {
      log.warn("could not compile the worker bundle; local machines run the TypeScript sources through tsx (slower to start)", { error: err });
    }
    const localRuntime = new LocalMachinesRuntime({
      app: "podfleet-local",
      launch: (machine) => (launch ? launch(machine, defaultLaunch) : defaultLaunch),
      logDir: path.join(logDir, "machines"),
      owner: localOwner(config),
      ...(rateLimit ? {} : { rateLimits: false as const }),
    });
    const { url, token } = await localRuntime.start();
    closer.add(() => localRuntime.close());
    const machines = new MachinesClient({ baseUrl: url, app: "podfleet-local", token });
    return { machines, localRuntime, close: closer.close };
  });
}

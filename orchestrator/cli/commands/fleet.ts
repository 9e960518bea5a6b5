/** `podfleet fleet show|events|limits set`. Implementation: cli/fleet-command.ts. */
import type { Command } from "commander";
import { action, bounded, examples } from "../command-action.ts";
import { registerMachinesServe } from "./machines-serve.ts";

const load = () => import("../fleet-command.ts");

export function registerFleet(program: Command): void {
  const fleet = program.command("fleet").description("the worker fleet: limits, state, events");
  fleet
    .command("show")
    .description("limits, machines by state, queue depth, usage (read-only)")
    .addHelpText("after", examples(["podfleet fleet show", "podfleet fleet show --json"]))
    .action(action(load, (m, ctx) => m.fleetShow(ctx)));
  fleet
    .command("events")
    .description("recent machine events: state changes, boots, failures (read-only)")
    .option("--limit <n>", "at most this many events (1-1000, default 100)")
    .option("--machine <id>", "only this machine's events")
    .addHelpText("after", examples(["podfleet fleet events --limit 20", "podfleet fleet events --machine m_0123 --json"]))
    .action(action(load, (m, ctx) => m.fleetEvents(ctx), bounded({ limit: "FLEET_EVENTS_LIMIT" })));
  const limits = fleet.command("limits").description("fleet limits");
  limits
    .command("set")
    .description("change fleet limits; the next autoscaler pass applies them")
    .option("--max-machines <n>", "most machines at once")
    .option("--max-starting <n>", "most machines booting at once")
    .option("--idle-timeout <s>", "seconds an idle worker waits before exiting")
    .option("--max-lifetime <s>", "seconds before a machine is replaced")
    .option("--regions <a,b>", "regions to place machines in")
    .option("--size <preset>", "a Fly size preset (performance-16x, …)")
    .option("--cpus <n>", "CPUs per machine (with --memory-mb)")
    .option("--memory-mb <n>", "memory per machine, a multiple of 256")
    .option("--cpu-kind <kind>", "shared or performance")
    .option("--gpu-kind <kind>", "a GPU kind, where the platform has them")
    .option("--warm-pool <n>", "stopped machines kept ready")
    .option("--daily-budget <s>", 'machine-seconds per UTC day, or "none"')
    .option("--image <image>", "worker image")
    .addHelpText(
      "after",
      examples([
        "podfleet fleet limits set --max-machines 4 --warm-pool 1",
        "podfleet fleet limits set --cpus 2 --memory-mb 2048 --cpu-kind performance",
      ]),
    )
    .action(action(load, (m, ctx) => m.limitsSet(ctx)));
}

export function registerMachines(program: Command): void {
  const machines = program.command("machines").description("worker machines: list, reap, serve a local Machines API");
  machines
    .command("list")
    .description("worker machines: age, state, current chunk (read-only)")
    .addHelpText("after", examples(["podfleet machines list", "podfleet machines list --json"]))
    .action(action(load, (m, ctx) => m.machinesList(ctx)));
  machines
    .command("reap")
    .description("one sweeper pass now, printing what it did")
    .option("--dry-run", "only print what it would do")
    .addHelpText("after", examples(["podfleet machines reap --dry-run"]))
    .action(action(load, (m, ctx) => m.machinesReap(ctx)));
  registerMachinesServe(machines);
}

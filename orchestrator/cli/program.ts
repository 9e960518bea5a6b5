/**
 * The command tree: every podfleet command, its options, help and examples, defined with
 * commander. Built without importing any orchestrator code (implementations load when a command
 * runs: command-action.ts), so help and usage errors answer at once. The README's CLI section is
 * generated from this tree (scripts/cli-reference.ts) and a test keeps the two in agreement.
 */
import fs from "node:fs";
import { Command, Option } from "commander";
import { registerCompletion } from "./commands/completion.ts";
import { registerFeeds } from "./commands/feeds.ts";
import { registerFleet, registerMachines } from "./commands/fleet.ts";
import { registerJobs } from "./commands/jobs.ts";
import { registerModels } from "./commands/models.ts";
import { registerNats } from "./commands/nats.ts";
import { registerSources } from "./commands/sources.ts";
import { registerTokens } from "./commands/tokens.ts";
import { registerTranscribe } from "./commands/transcribe.ts";
import { registerUp } from "./commands/up.ts";

/** The package's version, read from package.json (not imported: no JSON module loading on the help path). */
export function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

export function buildProgram(): Command {
  const program = new Command("podfleet")
    .description("podcast transcription farm: an orchestrator, a work queue and a fleet of worker machines")
    .version(packageVersion(), "-V, --version", "print the version")
    .addOption(new Option("--json", "machine-readable output on stdout; errors as a JSON object on stderr"))
    .addOption(new Option("--data-dir <dir>", "the orchestrator's data directory (default PODFLEET_DATA_DIR, else ./.podfleet)"))
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .addHelpText(
      "after",
      `
Commands talk to the orchestrator at PODFLEET_URL; without it, to the one \`podfleet up\` runs on the
data directory. Read-only commands (jobs list/show/logs, fleet show/events, machines list, tokens list,
sources list, feeds list/show) never start one; the others start an embedded orchestrator for the
length of the command when none is running.

Exit codes: 0 ok, 1 failed, 2 usage error, 3 no orchestrator reachable, 70 internal error (up), 130 interrupted.

Examples:
  $ podfleet up
  $ podfleet transcribe episode.mp3 --out ./out
  $ podfleet help jobs
`,
    );
  registerUp(program);
  registerTranscribe(program);
  registerJobs(program);
  registerFleet(program);
  registerMachines(program);
  registerTokens(program);
  registerSources(program);
  registerFeeds(program);
  registerModels(program);
  registerNats(program);
  registerCompletion(program);
  return program;
}

/**
 * The `podfleet` command line: parses arguments with the commander tree (program.ts), runs one
 * command, and maps failure to an exit code (cli-error.ts EXIT) with one readable line on stderr,
 * or with `--json` one JSON object `{"error": {code, message, exitCode, …}}` on stderr.
 */
import { type Command, CommanderError } from "commander";
import { CliError, EXIT } from "./cli-error.ts";
import { session } from "./command-action.ts";
import { buildProgram } from "./program.ts";
import { safeInline, writeHuman } from "./terminal-text.ts";

/** commander's codes for a command line it refused (all exit 2). */
const USAGE_CODES = new Set([
  "commander.unknownCommand",
  "commander.unknownOption",
  "commander.missingArgument",
  "commander.optionMissingArgument",
  "commander.missingMandatoryOptionValue",
  "commander.invalidArgument",
  "commander.excessArguments",
  "commander.conflictingOption",
]);

function report(err: CliError, json: boolean): void {
  if (json) {
    process.stderr.write(JSON.stringify({ error: { code: err.code, message: err.message, exitCode: err.exitCode, ...err.details } }) + "\n");
    return;
  }
  writeHuman(`podfleet: ${safeInline(err.message.split("\n")[0] ?? "")}\n`, process.stderr);
  // a hint line (where the logs are), when the error carries one
  if (typeof err.details.hint === "string") writeHuman(`podfleet: ${safeInline(err.details.hint)}\n`, process.stderr);
}

/** commander's own message ("error: unknown command 'jbos'\n(Did you mean jobs?)") as one line. */
function usageMessage(err: CommanderError): string {
  return err.message
    .replace(/^error: /, "")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean)
    .join(" ");
}

/** "jobs list" for that command, "" for the program itself. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

export async function main(argv = process.argv.slice(2), env = process.env): Promise<number> {
  session.env = env;
  session.exitCode = 0;
  const json = argv.includes("--json");
  const program = buildProgram();
  // commander's own error printing is replaced by report(); it still says which command erred
  let erred = program;
  const quiet = (cmd: typeof program): void => {
    cmd.exitOverride().configureOutput({ outputError: () => void (erred = cmd) });
    cmd.commands.forEach(quiet);
  };
  quiet(program);
  // `help jobs list` is `jobs list --help` (commander's help command takes one name)
  const args = argv[0] === "help" && argv.length > 2 ? [...argv.slice(1), "--help"] : argv;
  try {
    await program.parseAsync(args, { from: "user" });
    return session.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return EXIT.ok;
      // `help CMD` exits 0; a command group run without its subcommand printed its help on stderr and exits 2
      if (err.code === "commander.help") return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
      const where = commandPath(erred);
      const hint = USAGE_CODES.has(err.code) ? ` (see podfleet help${where ? ` ${where}` : ""})` : "";
      report(new CliError(`${usageMessage(err)}${hint}`, EXIT.usage, "usage"), json);
      return EXIT.usage;
    }
    const cliErr =
      err instanceof CliError
        ? err
        : new CliError(`unexpected error: ${err instanceof Error ? err.message : String(err)}`, EXIT.failed, "unexpected");
    report(cliErr, json);
    return cliErr.exitCode;
  }
}

process.exitCode = await main();

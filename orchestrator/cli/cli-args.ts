/**
 * Argument parsing shared by every CLI command: node's parseArgs in strict mode, with a usage
 * error (exit 2, one line) instead of a stack trace when the arguments are wrong.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { describeBounds, parseBoundedNumber, type NumberBounds } from "../input-bounds.ts";
import { CliError } from "./cli-error.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

export function parseCommandArgs<O extends Options>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError(`${(err as Error).message} (see podfleet --help)`, 2);
  }
}

/** A numeric flag inside the bounds the API enforces (input-bounds.ts); a usage error (exit 2) otherwise. */
export function boundedFlag(name: string, value: string | undefined, bounds: NumberBounds): number | undefined {
  if (value === undefined) return undefined;
  const n = parseBoundedNumber(value.trim(), bounds);
  if (n === undefined) throw new CliError(`--${name} must be ${describeBounds(bounds)}, got "${value}"`, 2);
  return n;
}

/** Numeric flags checked against the bounds the API enforces, so the CLI refuses what the API would. */
import { describeBounds, parseBoundedNumber, type NumberBounds } from "../input-bounds.ts";
import { CliError, EXIT } from "./cli-error.ts";

/** A numeric flag inside `bounds`; a usage error (exit 2) otherwise. */
export function boundedFlag(name: string, value: string | undefined, bounds: NumberBounds): number | undefined {
  if (value === undefined) return undefined;
  const n = parseBoundedNumber(value.trim(), bounds);
  if (n === undefined) throw new CliError(`--${name} must be ${describeBounds(bounds)}, got "${value}"`, EXIT.usage);
  return n;
}

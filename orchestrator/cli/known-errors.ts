/**
 * Turns the errors the orchestrator's modules throw into CliErrors with the documented exit codes
 * (cli-error.ts EXIT), branching on their classes. Loaded only when a command failed.
 */
import { ConfigError } from "../config.ts";
import { DataDirLockedError } from "../data-dir.ts";
import { ApiClientError } from "./api-client.ts";
import { CliError, EXIT } from "./cli-error.ts";

export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof ApiClientError) {
    const unreachable = err.status === 0;
    return new CliError(err.message, unreachable ? EXIT.noOrchestrator : EXIT.failed, err.code, unreachable ? {} : { httpStatus: err.status }, {
      cause: err,
    });
  }
  if (err instanceof ConfigError) return new CliError(err.message, EXIT.failed, "config", {}, { cause: err });
  if (err instanceof DataDirLockedError) return new CliError(err.message, EXIT.failed, "data_dir_locked", {}, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  return new CliError(`unexpected error: ${message}`, EXIT.failed, "unexpected", {}, { cause: err });
}

/**
 * An error the CLI reports as one line on stderr (or one JSON object with --json), with its exit
 * code. This file and everything under cli/commands/ use only syntax Node strips natively, so
 * `--help` runs without the tsx loader (see lazy-module.ts).
 */

/** The documented exit codes (README "Exit codes"). */
export const EXIT = {
  ok: 0,
  /** The operation failed: an episode failed or was cancelled, the API refused the request. */
  failed: 1,
  /** The command line was wrong: unknown command or option, missing argument, bad value. */
  usage: 2,
  /** No orchestrator answers: none running on the data directory, or PODFLEET_URL unreachable. */
  noOrchestrator: 3,
  /** `podfleet up` stopped itself after a burst of unexpected errors. */
  internal: 70,
  /** Interrupted (Ctrl-C). */
  interrupted: 130,
} as const;

export class CliError extends Error {
  override name = "CliError";
  readonly exitCode: number;
  /** A stable, machine-readable code for `--json` errors (`usage`, `failed`, an API error code, …). */
  readonly code: string;
  /** Extra fields for the `--json` error object (the log directory, the episode id, …). */
  readonly details: Record<string, unknown>;

  constructor(message: string, exitCode: number = EXIT.failed, code?: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.exitCode = exitCode;
    this.code = code ?? (exitCode === EXIT.usage ? "usage" : "failed");
    this.details = details;
  }
}

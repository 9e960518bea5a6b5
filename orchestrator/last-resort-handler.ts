/**
 * The last resort of `podfleet up`: an error that no item boundary caught (a throw from an event
 * handler or timer, a promise nobody awaited) is logged, counted for /metrics, and the service
 * keeps running, instead of Node ending the process and every episode, feed and delivery with it.
 *
 * When continuing is safe, and why it is the default here: every durable change the orchestrator
 * makes is one atomic libSQL write (serialized in-process) or a NATS ack sent after such a write,
 * so an exception unwinding a stack leaves nothing half-written on disk. What it can leave wrong is
 * in memory and belongs to the one item whose code threw (a download, a poll, a socket), and every
 * background pass re-reads its inputs from the store each time; an item left half-way (an episode
 * still `ingesting`, a chunk whose job was lost) is what the sweeper and the resume at start-up
 * already repair. So one escape is logged and survived.
 *
 * When it is not: escapes in a burst mean something shared is broken (the same error every pass),
 * and carrying on would only hide it. Past `maxEscapes` within `windowMs`, `onTooMany` is called
 * once; `podfleet up` then shuts down in order and exits non-zero, so a supervisor restarts it on
 * the same data directory and the resume path rebuilds every in-memory structure from the store.
 */
import type { Logger } from "./log.ts";

export type EscapeKind = "uncaught_exception" | "unhandled_rejection";

const counts: Record<EscapeKind, number> = { uncaught_exception: 0, unhandled_rejection: 0 };

/** Errors that reached the last-resort handler since the process started, by kind (0 when none is installed). */
export function escapedErrorCounts(): Readonly<Record<EscapeKind, number>> {
  return { ...counts };
}

export interface LastResortOptions {
  log: Logger;
  /** Escapes within `windowMs` beyond which the process is treated as broken. Default 20. */
  maxEscapes?: number;
  /** Default 60 s. */
  windowMs?: number;
  /** Called once when escapes pass `maxEscapes` within `windowMs`: shut down and exit non-zero. */
  onTooMany: (summary: string) => void;
  now?: () => number;
}

/** A user:password@ in a URL inside an error text (the logger redacts registered secrets, not these). */
const URL_CREDENTIALS = /(\/\/)[^/\s@:]*:[^/\s@]*@/g;

function describe(value: unknown): Record<string, unknown> {
  const clean = (s: string) => s.replace(URL_CREDENTIALS, "$1[redacted]@");
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return {
      name: value.name,
      message: clean(value.message),
      ...(typeof code === "string" ? { code } : {}),
      // where it came from, without the message line the stack repeats
      stack: clean(
        (value.stack ?? "")
          .split("\n")
          .slice(1, 9)
          .map((l) => l.trim())
          .join(" | "),
      ),
    };
  }
  return { name: typeof value, message: clean(String(value)).slice(0, 500) };
}

/** Installs the process-wide handlers; returns a function that removes them. */
export function installLastResortHandler(opts: LastResortOptions): () => void {
  const maxEscapes = opts.maxEscapes ?? 20;
  const windowMs = opts.windowMs ?? 60_000;
  const now = opts.now ?? Date.now;
  const recent: number[] = [];
  let gaveUp = false;

  const onEscape = (kind: EscapeKind, error: unknown): void => {
    try {
      counts[kind] += 1;
      const at = now();
      recent.push(at);
      while (recent.length > 0 && recent[0]! <= at - windowMs) recent.shift();
      opts.log.error("an error escaped its item; the orchestrator keeps running", { kind, escaped: describe(error), escapesInWindow: recent.length });
      if (!gaveUp && recent.length > maxEscapes) {
        gaveUp = true;
        opts.onTooMany(`${recent.length} errors escaped in ${Math.round(windowMs / 1000)} s (last: ${describe(error).message as string})`);
      }
    } catch {
      // the last resort must not throw: a throw here would end the process after all
    }
  };
  const onUncaught = (error: Error): void => onEscape("uncaught_exception", error);
  const onRejection = (reason: unknown): void => onEscape("unhandled_rejection", reason);
  process.on("uncaughtException", onUncaught);
  process.on("unhandledRejection", onRejection);
  return () => {
    process.off("uncaughtException", onUncaught);
    process.off("unhandledRejection", onRejection);
  };
}

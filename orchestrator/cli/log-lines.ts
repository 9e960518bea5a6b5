/**
 * `podfleet up`'s log output: the JSON lines log.ts writes, kept as they are for a log collector,
 * or turned into readable lines for a person at a terminal ("12:04:05 info  orchestrator
 * listening url=http://…"). PODFLEET_LOG_FORMAT=json|text chooses; by default a terminal gets text.
 */
import { safeInline } from "./terminal-text.ts";

export type LogFormat = "json" | "text";

export function logFormat(env: NodeJS.ProcessEnv, isTTY: boolean): LogFormat {
  const chosen = env.PODFLEET_LOG_FORMAT?.trim().toLowerCase();
  if (chosen === "json" || chosen === "text") return chosen;
  return isTTY ? "text" : "json";
}

function fieldValue(v: unknown): string {
  const s = typeof v === "string" ? v : JSON.stringify(v);
  return /[\s"=]/.test(s) ? JSON.stringify(s) : s;
}

/** One JSON log record as a readable line; a line that is not a JSON object passes through. */
export function readableLogLine(jsonLine: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(jsonLine) as Record<string, unknown>;
  } catch {
    return safeInline(jsonLine);
  }
  if (typeof record !== "object" || record === null) return safeInline(jsonLine);
  const { t, level, msg, component, ...fields } = record;
  const time = typeof t === "string" ? t.slice(11, 19) : "";
  const extra = Object.entries(fields).map(([k, v]) => `${k}=${fieldValue(v)}`);
  const text = (v: unknown): string => (v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v));
  return safeInline([time, text(level).padEnd(5), component ? `[${text(component)}]` : "", text(msg), ...extra].filter(Boolean).join(" "));
}

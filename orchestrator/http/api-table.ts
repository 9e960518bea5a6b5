/**
 * The README's API table, rendered from the OpenAPI document (`npm run api:readme` writes it;
 * test/openapi.test.ts fails when README.md and the routes disagree). No I/O here.
 */
import type { ApiDocument } from "./api-reference.ts";

export const TABLE_START = "<!-- api-table:start (generated from the routes by `npm run api:readme`; do not edit by hand) -->";
export const TABLE_END = "<!-- api-table:end -->";

const METHODS = ["get", "post", "put", "delete", "options"] as const;

/** One markdown row per operation, in the order the routes are mounted. */
export function apiTable(doc: ApiDocument): string {
  const rows = ["| method and path | who may call | what it does |", "|---|---|---|"];
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const access = accessOf(op);
      const what = [op.summary, op.description].filter(Boolean).join(": ").replace(/\|/g, "\\|").replace(/\n/g, " ");
      rows.push(`| \`${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}\` | ${access} | ${what} |`);
    }
  }
  return rows.join("\n");
}

/** `readme` with the text between the markers replaced by `table`; throws when a marker is missing. */
export function withApiTable(readme: string, table: string): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error("README.md has no API table markers (api-table:start / api-table:end)");
  return `${readme.slice(0, start + TABLE_START.length)}\n${table}\n${readme.slice(end)}`;
}

/** The table README.md holds now, or undefined without markers. */
export function readmeApiTable(readme: string): string | undefined {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  return start < 0 || end < start ? undefined : readme.slice(start + TABLE_START.length, end).trim();
}

/** The access a route declared (its `x-podfleet-access`), "admin" when absent. */
function accessOf(op: unknown): string {
  const access = (op as Record<string, unknown>)["x-podfleet-access"];
  return typeof access === "string" ? access : "admin";
}

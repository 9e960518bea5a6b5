import { safeInline } from "./terminal-text.ts";

/**
 * Render rows as a left-aligned text table with a header, for human CLI output. Cells come from
 * outside (titles, URLs, errors), so each is made terminal-safe and kept on its row (terminal-text.ts).
 */
export function table(header: string[], rawRows: string[][]): string {
  if (rawRows.length === 0) return "(none)\n";
  const rows = rawRows.map((r) => r.map(safeInline));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

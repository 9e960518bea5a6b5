/**
 * Text from outside (feed and webhook titles, URLs, error messages) made safe for an operator's
 * terminal. Every human CLI output goes through here: an ESC or a C1 CSI starts a terminal control
 * sequence (colours, cursor moves, window titles, OSC 52 clipboard writes), BEL rings, CR
 * overwrites the line, and bidi overrides and isolates reorder what is shown (Trojan Source).
 * Each such character becomes a visible U+FFFD. `--json` output is not touched: JSON escapes
 * control characters itself and scripts need the data as it is.
 */

/** Shown instead of a neutralised character. */
export const CONTROL_PLACEHOLDER = "\uFFFD";

/** C0 controls except LF, DEL, C1 controls (together: Unicode Cc), bidi embeddings/overrides (U+202A–U+202E) and isolates (U+2066–U+2069). */
const UNSAFE_KEEP_NEWLINES = /(?!\n)[\p{Cc}\u202A-\u202E\u2066-\u2069]/gu;
/** The same, and LF too: for a table cell or a one-line field. */
const UNSAFE_IN_LINE = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/gu;

/** Text for one cell or one line: no control characters at all (a newline would break the row). */
export function safeInline(text: string): string {
  return text.replace(UNSAFE_IN_LINE, CONTROL_PLACEHOLDER);
}

/** Multi-line human output: line breaks stay, every other control character is neutralised. */
export function safeText(text: string): string {
  return text.replace(UNSAFE_KEEP_NEWLINES, CONTROL_PLACEHOLDER);
}

/** Writes human output to a stream (stdout by default), neutralised. */
export function writeHuman(text: string, out: NodeJS.WritableStream = process.stdout): void {
  out.write(safeText(text));
}

/** `--json` output, as the data is (JSON escapes C0 controls itself). */
export function writeJson(value: unknown, indent?: number): void {
  process.stdout.write(JSON.stringify(value, null, indent) + "\n");
}

import { safeInline } from "./terminal-text.ts";

/** A one-line progress bar on a terminal (stderr); silent when stderr is not a TTY. */
export class ProgressBar {
  private readonly started = Date.now();
  private lastLen = 0;

  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {}

  get enabled(): boolean {
    return Boolean(this.out.isTTY);
  }

  update(status: string, done: number, total: number): void {
    if (!this.enabled) return;
    const width = 30;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const secs = ((Date.now() - this.started) / 1000).toFixed(0);
    const line = `${bar} ${done}/${total || "?"} chunks  ${safeInline(status)}  ${secs}s`;
    this.out.write(`\r${line}${" ".repeat(Math.max(0, this.lastLen - line.length))}`);
    this.lastLen = line.length;
  }

  /** One line of news on stderr (TTY or not), above the bar. */
  note(line: string): void {
    if (this.enabled && this.lastLen > 0) this.out.write(`\r${" ".repeat(this.lastLen)}\r`);
    this.out.write(`podfleet: ${line}\n`);
    this.lastLen = 0;
  }

  finish(): void {
    if (this.enabled && this.lastLen > 0) this.out.write("\n");
  }
}

/**
 * `podfleet transcribe`'s progress on stderr. On a terminal, one line redrawn in place; anywhere
 * else (a pipe, CI, a log file), a plain line at each phase change and every few seconds, so a
 * long run never looks dead. Phases: starting, uploading, ingesting, queued, running, stitching.
 */
import { safeInline } from "./terminal-text.ts";

export type Phase = "starting" | "uploading" | "ingesting" | "waiting" | "queued" | "running" | "stitching";

export interface ProgressSnapshot {
  phase: Phase;
  chunks: { total: number; done: number; running: number; queued: number; failed: number };
  /** Machines created or starting, not yet working. */
  booting: number;
  /** Seconds until done, from the chunk times seen so far; null until one chunk is done. */
  etaSec: number | null;
}

/** How long the rest takes, from the chunks done so far: mean time per chunk, spread over the machines at work. */
export function estimateEta(doneMs: number[], queued: number, running: number): number | null {
  if (doneMs.length === 0 || queued + running === 0) return null;
  const mean = doneMs.reduce((a, b) => a + b, 0) / doneMs.length;
  const lanes = Math.max(1, running);
  return Math.ceil((((queued + running / 2) / lanes) * mean) / 1000);
}

function duration(sec: number): string {
  return sec < 60 ? `${sec}s` : `${Math.floor(sec / 60)}m${String(sec % 60).padStart(2, "0")}s`;
}

export function describeProgress(s: ProgressSnapshot, elapsedSec: number): string {
  const c = s.chunks;
  const parts: string[] = [s.phase];
  if (c.total > 0) parts.push(`${c.done}/${c.total} chunks done, ${c.running} running, ${c.queued} queued${c.failed ? `, ${c.failed} failed` : ""}`);
  if (s.booting > 0) parts.push(`${s.booting} machine${s.booting === 1 ? "" : "s"} booting`);
  if (s.etaSec !== null) parts.push(`~${duration(s.etaSec)} left`);
  parts.push(`${duration(elapsedSec)} elapsed`);
  return parts.join(" · ");
}

export class TranscribeProgress {
  private readonly started = Date.now();
  private lastLen = 0;
  private lastPhase: Phase | undefined;
  private lastPrinted = 0;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    /** Plain-line interval off a terminal. */
    private readonly everyMs = 5_000,
  ) {}

  private get tty(): boolean {
    return Boolean(this.out.isTTY);
  }

  update(s: ProgressSnapshot): void {
    const now = Date.now();
    const line = describeProgress(s, Math.round((now - this.started) / 1000));
    if (this.tty) {
      const width = 24;
      const filled = s.chunks.total > 0 ? Math.round((s.chunks.done / s.chunks.total) * width) : 0;
      const text = safeInline(`${"█".repeat(filled)}${"░".repeat(width - filled)} ${line}`).slice(0, Math.max(20, (this.out.columns ?? 120) - 1));
      this.out.write(`\r${text}${" ".repeat(Math.max(0, this.lastLen - text.length))}`);
      this.lastLen = text.length;
      return;
    }
    if (s.phase !== this.lastPhase || now - this.lastPrinted >= this.everyMs) {
      this.out.write(`podfleet: progress: ${safeInline(line)}\n`);
      this.lastPrinted = now;
    }
    this.lastPhase = s.phase;
  }

  /** One line of news (TTY or not), above the live line. */
  note(line: string): void {
    if (this.tty && this.lastLen > 0) this.out.write(`\r${" ".repeat(this.lastLen)}\r`);
    this.out.write(`podfleet: note: ${safeInline(line)}\n`);
    this.lastLen = 0;
  }

  finish(): void {
    if (this.tty && this.lastLen > 0) this.out.write("\n");
    this.lastLen = 0;
  }
}

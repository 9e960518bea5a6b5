/** One scenario's outcome: its figures, the target in words, and whether it was met. */
export interface ScenarioResult {
  scenario: string;
  figures: Record<string, number | string | boolean | null>;
  target: string;
  met: boolean;
  /** What was simplified or why a target was missed. */
  note?: string;
}

export interface BenchContext {
  quick: boolean;
  /** Scratch directory for audio fixtures; the runner removes it. */
  dir: string;
  log: (line: string) => void;
}

/** The JSON line a scenario prints: `{"scenario": NAME, ...figures, "target": ..., "met": ...}`. */
export function resultLine(r: ScenarioResult): string {
  return JSON.stringify({ scenario: r.scenario, ...r.figures, target: r.target, met: r.met, ...(r.note ? { note: r.note } : {}) });
}

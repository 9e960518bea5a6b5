/**
 * A small writer for the Prometheus text exposition format (version 0.0.4): gauges, counters and
 * cumulative histograms with HELP/TYPE lines. Enough for /metrics without a client library.
 */

export type Labels = Readonly<Record<string, string>>;
export interface Sample {
  readonly labels?: Labels;
  readonly value: number;
}

/** Content type Prometheus scrapers expect for the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function labelText(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  return entries.length === 0 ? "" : `{${entries.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",")}}`;
}

/** Collects metric families in order and renders them as one exposition document. */
export class MetricsText {
  readonly #lines: string[] = [];

  #family(name: string, type: "gauge" | "counter" | "histogram", help: string): void {
    this.#lines.push(`# HELP ${name} ${help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`, `# TYPE ${name} ${type}`);
  }

  gauge(name: string, help: string, samples: readonly Sample[]): this {
    this.#family(name, "gauge", help);
    for (const s of samples) this.#lines.push(`${name}${labelText(s.labels)} ${formatValue(s.value)}`);
    return this;
  }

  /** `name` should end in `_total`. */
  counter(name: string, help: string, samples: readonly Sample[]): this {
    this.#family(name, "counter", help);
    for (const s of samples) this.#lines.push(`${name}${labelText(s.labels)} ${formatValue(s.value)}`);
    return this;
  }

  /** `buckets`: upper bounds with the cumulative count of observations ≤ each; +Inf is added from `count`. */
  histogram(name: string, help: string, h: { buckets: ReadonlyArray<{ le: number; count: number }>; sum: number; count: number }): this {
    this.#family(name, "histogram", help);
    for (const b of h.buckets) this.#lines.push(`${name}_bucket{le="${formatValue(b.le)}"} ${b.count}`);
    this.#lines.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${formatValue(h.sum)}`, `${name}_count ${h.count}`);
    return this;
  }

  render(): string {
    return `${this.#lines.join("\n")}\n`;
  }
}

/**
 * A strict reader of the Prometheus text format for tests: every sample line parses, every family
 * has HELP before TYPE, every sample belongs to a declared family.
 */
import assert from "node:assert/strict";

// Prometheus reads values with Go's ParseFloat, which takes NaN and Inf in any case; prom-client writes "Nan".
const SAMPLE_LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? ([Nn][Aa][Nn]|[+-]Inf|-?\d+(\.\d+)?(e[+-]?\d+)?)$/;

/** Checks the exposition format and returns sample values keyed by `name{labels}`. */
export function parseStrict(text: string): Map<string, number> {
  assert.ok(text.endsWith("\n"), "document ends with a newline");
  const helped = new Set<string>();
  const typed = new Map<string, string>();
  const values = new Map<string, number>();
  for (const line of text.trimEnd().split("\n")) {
    if (line === "") continue; // the format ignores empty lines (prom-client separates families with one)
    const help = /^# HELP (\S+) .+$/.exec(line);
    if (help) {
      helped.add(help[1]!);
      continue;
    }
    const type = /^# TYPE (\S+) (gauge|counter|histogram|summary)$/.exec(line);
    if (type) {
      assert.ok(helped.has(type[1]!), `HELP before TYPE for ${type[1]}`);
      typed.set(type[1]!, type[2]!);
      continue;
    }
    assert.match(line, SAMPLE_LINE);
    const i = line.lastIndexOf(" ");
    const key = line.slice(0, i);
    const family = key
      .replace(/\{.*$/, "")
      .replace(/_(bucket|sum|count)$/, (m) => (typed.has(key.replace(/\{.*$/, "").slice(0, -m.length)) ? "" : m));
    assert.ok(typed.has(family), `sample ${key} belongs to a declared family (${family})`);
    values.set(key, Number(line.slice(i + 1)));
  }
  return values;
}

/** Every series name a scrape can be queried by: sample names, and each declared family with its histogram/summary suffixes. */
export function exportedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\w+)$/.exec(line);
    if (type) {
      names.add(type[1]!);
      if (type[2] === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(type[1]! + s);
      if (type[2] === "summary") for (const s of ["_sum", "_count"]) names.add(type[1]! + s);
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (sample) names.add(sample[1]!);
  }
  return names;
}

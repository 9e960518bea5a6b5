/**
 * `npm run bench`: the throughput and scale benchmarks (BENCHMARKS.md, "Throughput and scale").
 * Prints progress, one JSON line per scenario `{"scenario": NAME, ...figures, "target", "met"}`,
 * and a summary table. `-- --quick` is the short version (under 5 minutes); `-- --only=a,b` picks
 * scenarios. Never a test: timings depend on the machine and its load.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { resultLine, type BenchContext, type ScenarioResult } from "./bench-result.ts";
import { backlog } from "./scenarios/backlog.ts";
import { clusterBacklog } from "./scenarios/cluster-backlog.ts";
import { coldStart } from "./scenarios/cold-start.ts";
import { dispatch } from "./scenarios/dispatch.ts";
import { engineVsFarm } from "./scenarios/engine-vs-farm.ts";
import { hourStream } from "./scenarios/hour-stream.ts";
import { metrics } from "./scenarios/metrics.ts";
import { scaling } from "./scenarios/scaling.ts";

const SCENARIOS: Record<string, (ctx: BenchContext) => Promise<ScenarioResult | ScenarioResult[]>> = {
  engine: engineVsFarm, // 1 overhead + 2 speedup
  scaling,
  dispatch,
  backlog,
  cold_start: coldStart,
  metrics,
  hour_stream: hourStream, // issue 15: a real speech MP3 by URL, 32 machines, RTF 0.1 and 0.02
  cluster_backlog: clusterBacklog, // issue 18: the backlog on a NATS cluster + sqld, one orchestrator vs two
};

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const quick = args.includes("--quick");
  const only = args
    .find((a) => a.startsWith("--only="))
    ?.slice("--only=".length)
    .split(",");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-benchdata-"));
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const ctx: BenchContext = { quick, dir, log };
  const results: ScenarioResult[] = [];
  const started = Date.now();
  log(
    `podfleet bench ${quick ? "--quick " : ""}on ${os.cpus().length}x ${os.cpus()[0]?.model ?? "cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  try {
    for (const [name, fn] of Object.entries(SCENARIOS)) {
      if (only && !only.includes(name)) continue;
      log(`== ${name}`);
      const t0 = Date.now();
      try {
        const out = await fn(ctx);
        for (const r of Array.isArray(out) ? out : [out]) {
          results.push(r);
          process.stdout.write(`${resultLine(r)}\n`);
        }
      } catch (err) {
        const r: ScenarioResult = { scenario: name, figures: { error: err instanceof Error ? err.message : String(err) }, target: "ran", met: false };
        results.push(r);
        process.stdout.write(`${resultLine(r)}\n`);
      }
      log(`   (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.stdout.write(`\n${"scenario".padEnd(12)} ${"met".padEnd(5)} target / key figures\n`);
  for (const r of results) {
    const keys = Object.entries(r.figures)
      .filter(([, v]) => typeof v === "number" || typeof v === "boolean")
      .map(([k, v]) => `${k}=${v}`)
      .join(" ");
    process.stdout.write(`${r.scenario.padEnd(12)} ${String(r.met).padEnd(5)} ${r.target}\n${"".padEnd(18)} ${keys}\n`);
  }
  process.stdout.write(
    `total ${((Date.now() - started) / 1000).toFixed(1)} s, load now ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${String(err)}\n`);
    process.exit(1);
  },
);

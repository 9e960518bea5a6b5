/**
 * How fast `podfleet --help` (and `podfleet jobs list --help`) answer: runs each N times as a
 * fresh process, next to a bare `node -e ""` for the machine's own start-up cost, and prints the
 * median and best wall times. Usage: `npm run bench:cli-help [-- RUNS]` (default 9).
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(new URL("../bin/podfleet.js", import.meta.url));
const runs = Number(process.argv[2] ?? 9);

function time(args: string[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] });
    if (r.status !== 0) throw new Error(`${args.join(" ")} exited ${r.status}: ${String(r.stderr)}`);
    out.push(performance.now() - t0);
  }
  return out.sort((a, b) => a - b);
}

const cases: Array<[string, string[]]> = [
  ['node -e ""', ["-e", ""]],
  ["podfleet --help", [BIN, "--help"]],
  ["podfleet jobs list --help", [BIN, "jobs", "list", "--help"]],
  ["podfleet --version", [BIN, "--version"]],
];
for (const [label, args] of cases) {
  const t = time(args);
  console.log(
    `${label.padEnd(28)} median ${t[Math.floor(t.length / 2)]!.toFixed(0).padStart(5)} ms   best ${t[0]!.toFixed(0).padStart(5)} ms   (${runs} runs)`,
  );
}

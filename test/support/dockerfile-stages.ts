/**
 * A small Dockerfile reader for image tests: stages (FROM … AS name) with their WORKDIR, ENV,
 * COPY, RUN and CMD instructions, line continuations joined and comments dropped. Enough for
 * podfleet's two Dockerfiles; not a general parser (no heredocs, no ONBUILD, no shell-form CMD).
 */

export interface CopyInstruction {
  /** Stage name of `--from=`, or undefined for the build context (the repository). */
  from: string | undefined;
  sources: string[];
  dest: string;
  /** The WORKDIR in effect (an absolute path), against which a relative `dest` resolves. */
  workdir: string;
  line: string;
}

export interface Stage {
  name: string;
  base: string;
  workdir: string;
  env: Record<string, string>;
  copies: CopyInstruction[];
  runs: string[];
  cmd: string[] | undefined;
}

/** The Dockerfile's logical lines: continuations joined, comments and blanks dropped. */
function logicalLines(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => !/^\s*#/.test(l))
    .join("\n")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
}

/** ENV with `KEY=value` pairs (values without spaces or in double quotes). */
function envPairs(rest: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of rest.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) out[m[1]!] = m[3] ?? m[2]!;
  return out;
}

/** Every stage in order; the last one is the image. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  let current: Stage | undefined;
  for (const line of logicalLines(text)) {
    const [word = "", ...restWords] = line.split(/\s+/);
    const rest = restWords.join(" ");
    const keyword = word.toUpperCase();
    if (keyword === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(rest);
      current = { name: m?.[2] ?? String(stages.length), base: m?.[1] ?? "", workdir: "/", env: {}, copies: [], runs: [], cmd: undefined };
      stages.push(current);
      continue;
    }
    if (!current) continue; // ARG before the first FROM
    if (keyword === "WORKDIR") current.workdir = rest.startsWith("/") ? rest : `${current.workdir.replace(/\/$/, "")}/${rest}`;
    else if (keyword === "ENV") Object.assign(current.env, envPairs(rest));
    else if (keyword === "RUN") current.runs.push(rest);
    else if (keyword === "CMD") current.cmd = JSON.parse(rest) as string[];
    else if (keyword === "COPY") {
      const words = rest.split(/\s+/);
      const flags = words.filter((w) => w.startsWith("--"));
      const paths = words.filter((w) => !w.startsWith("--"));
      const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
      current.copies.push({ from, sources: paths.slice(0, -1), dest: paths[paths.length - 1]!, workdir: current.workdir, line });
    }
  }
  return stages;
}

/** Where a COPY puts a source inside the image: an absolute path. */
export function copyTarget(copy: CopyInstruction, source: string): string {
  const base = copy.dest.startsWith("/") ? copy.dest : `${copy.workdir.replace(/\/$/, "")}/${copy.dest.replace(/^\.\//, "")}`;
  // `COPY a b ./` (or a dest ending in /) puts each source inside it; `COPY dir ./dir` renames.
  const intoDir = copy.dest.endsWith("/") || copy.sources.length > 1 || copy.dest === ".";
  const name = source.replace(/\/$/, "").split("/").pop()!;
  return intoDir ? `${base.replace(/\/?\.?$/, "")}/${name}`.replace(/\/+/g, "/") : base.replace(/\/+/g, "/");
}

/**
 * Compiles the worker (machine-image/worker/main.ts and everything it imports, dependencies
 * included) into one self-contained ES module that runs with `node worker.mjs` and needs no
 * node_modules: the machine image ships only that file, and the local machines runtime runs the
 * same bundle (starting it costs about 0.2 s of CPU against 1.1 s for the TypeScript sources
 * through tsx).
 *
 * Usage: node --import tsx machine-image/build-worker.ts OUT_FILE
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const WORKER_MAIN = fileURLToPath(new URL("./worker/main.ts", import.meta.url));

/** Builds the bundle into `outFile` (atomically: a half-written file is never there). */
export async function buildWorkerBundle(outFile: string): Promise<string> {
  const { build } = await import("esbuild");
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  const tmp = `${outFile}.${process.pid}.tmp.mjs`;
  try {
    await build({
      entryPoints: [WORKER_MAIN],
      outfile: tmp,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      logLevel: "silent",
      // CommonJS dependencies call require() for Node built-ins; an ES module has none of its own.
      banner: { js: "import { createRequire as __podfleetRequire } from 'node:module'; const require = __podfleetRequire(import.meta.url);" },
    });
    fs.renameSync(tmp, outFile);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
  return outFile;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write("usage: node --import tsx machine-image/build-worker.ts OUT_FILE\n");
    process.exit(2);
  }
  const file = await buildWorkerBundle(path.resolve(out));
  process.stdout.write(`worker bundle: ${file} (${(fs.statSync(file).size / 2 ** 20).toFixed(1)} MiB)\n`);
}

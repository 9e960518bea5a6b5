/**
 * Regenerates the README's CLI reference from the command definitions (orchestrator/cli/program.ts).
 * Usage: `npm run cli:reference` (writes README.md), `npm run cli:reference -- --check` (exit 1 when stale).
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { cliReference, withReference } from "../orchestrator/cli/cli-reference.ts";
import { buildProgram } from "../orchestrator/cli/program.ts";

const readmePath = fileURLToPath(new URL("../README.md", import.meta.url));
const readme = fs.readFileSync(readmePath, "utf8");
const next = withReference(readme, cliReference(buildProgram()));
if (process.argv.includes("--check")) {
  if (next !== readme) {
    console.error("README.md's CLI reference is out of date: run npm run cli:reference");
    process.exit(1);
  }
  console.log("README.md's CLI reference matches the commands");
} else if (next !== readme) {
  fs.writeFileSync(readmePath, next);
  console.log("README.md: CLI reference regenerated");
} else console.log("README.md: CLI reference already up to date");

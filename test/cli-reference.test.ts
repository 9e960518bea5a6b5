/** The README's CLI reference is the one the command definitions render (regenerate: npm run cli:reference). */
import assert from "node:assert/strict";
import fs from "node:fs";
import { test } from "node:test";
import { cliReference, withReference } from "../orchestrator/cli/cli-reference.ts";
import { buildProgram } from "../orchestrator/cli/program.ts";

test("README.md's CLI section agrees with the commands (npm run cli:reference regenerates it)", () => {
  const readme = fs.readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const reference = cliReference(buildProgram());
  assert.equal(withReference(readme, reference), readme, "README.md's CLI reference is stale: run npm run cli:reference");
  for (const name of ["up", "transcribe", "jobs logs", "fleet events", "machines reap", "sources add", "feeds remove", "completion"]) {
    assert.ok(reference.includes(`podfleet ${name}`), name);
  }
});

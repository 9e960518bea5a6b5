/**
 * The command line itself, through the real bin/podfleet.js: help for every command (with
 * examples), `help CMD`, --version, typo suggestions, usage errors that exit 2 (as one line, or
 * one JSON object with --json), and the generated shell completion in a real bash. None of these
 * start or need an orchestrator.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import type { Command } from "commander";
import { buildProgram } from "../orchestrator/cli/program.ts";
import { runCli } from "./support/cli.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-help-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const env = { PODFLEET_DATA_DIR: path.join(tmp, "data") };

/** Every runnable command's path: ["up"], ["jobs", "list"], ["fleet", "limits", "set"], … */
function leafPaths(cmd: Command, prefix: string[] = []): string[][] {
  if (cmd.commands.length === 0) return [prefix];
  return cmd.commands.flatMap((c) => leafPaths(c, [...prefix, c.name()]));
}
const leaves = leafPaths(buildProgram());

describe("help", () => {
  test("every command has its own help page with examples; nothing is started", async () => {
    assert.ok(leaves.length >= 25, `found ${leaves.length} commands`);
    for (const p of leaves) {
      const r = await runCli([...p, "--help"], env, 60_000);
      assert.equal(r.code, 0, `${p.join(" ")}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: podfleet ${p.join(" ")}\\b`), p.join(" "));
      assert.match(r.stdout, /\nExamples:\n {2}\$ podfleet /, `${p.join(" ")} shows examples`);
    }
    assert.equal(fs.existsSync(env.PODFLEET_DATA_DIR), false, "help created no data directory");
  });

  test("help CMD and help CMD SUB are the command's own page", async () => {
    const jobs = await runCli(["help", "jobs"], env, 60_000);
    assert.equal(jobs.code, 0, jobs.stderr);
    assert.match(jobs.stdout, /^Usage: podfleet jobs \[options\] \[command\]/);
    assert.match(jobs.stdout, /\n {2}logs \[options\] <id>/);
    const show = await runCli(["help", "jobs", "show"], env, 60_000);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^Usage: podfleet jobs show \[options\] <id>/);
    const top = await runCli(["--help"], env, 60_000);
    assert.match(top.stdout, /Exit codes: 0 ok, 1 failed, 2 usage error, 3 no orchestrator reachable/);
  });

  test("--version prints the package version", async () => {
    const { version } = JSON.parse(fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
    const r = await runCli(["--version"], env, 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${version}\n`);
  });
});

describe("usage errors exit 2 with one line", () => {
  for (const [args, expected] of [
    [["jbos", "list"], /^podfleet: unknown command 'jbos' \(Did you mean jobs\?\)/],
    [["jobs", "lst"], /^podfleet: unknown command 'lst' \(Did you mean list\?\) \(see podfleet help jobs\)/],
    [["jobs", "list", "--limt", "3"], /^podfleet: unknown option '--limt' \(Did you mean --limit\?\) \(see podfleet help jobs list\)/],
    [["jobs", "show"], /^podfleet: missing required argument 'id'/],
    [["transcribe", "x.mp3"], /^podfleet: required option '--out <dir>' not specified/],
    [["completion", "tcsh"], /^podfleet: .*'tcsh' is invalid/],
    [["jobs", "list", "--limit", "0"], /^podfleet: --limit must be a whole number from 1 to 500, got "0"/],
    [
      ["jobs", "list", "--status", "finished"],
      /^podfleet: option '--status <status>' argument 'finished' is invalid\. Allowed choices are received, ingesting, /,
    ],
  ] as const) {
    test(`podfleet ${args.join(" ")}`, async () => {
      const r = await runCli([...args], env, 60_000);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
      assert.match(r.stderr, expected);
    });
  }

  test("a command group without its subcommand prints the group's help on stderr, exit 2", async () => {
    const r = await runCli(["fleet"], env, 60_000);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^Usage: podfleet fleet/);
  });

  test("with --json the error is one JSON object on stderr, and stdout stays empty", async () => {
    const usage = await runCli(["jobs", "list", "--json", "--bogus"], env, 60_000);
    assert.equal(usage.code, 2);
    assert.equal(usage.stdout, "");
    assert.deepEqual(JSON.parse(usage.stderr), {
      error: { code: "usage", message: "unknown option '--bogus' (see podfleet help jobs list)", exitCode: 2 },
    });
    // a failure past parsing: no orchestrator runs for a read-only command that needs one (exit 3)
    const none = await runCli(["fleet", "show", "--json"], env, 60_000);
    assert.equal(none.code, 3, none.stderr);
    const err = JSON.parse(none.stderr) as { error: { code: string; message: string; exitCode: number; dataDir: string } };
    assert.equal(err.error.code, "not_running");
    assert.equal(err.error.exitCode, 3);
    assert.equal(err.error.dataDir, env.PODFLEET_DATA_DIR);
    assert.match(err.error.message, /no orchestrator is running on .*podfleet up/);
  });
});

describe("completion", () => {
  test("the bash script completes commands, subcommands and options in a real bash", async () => {
    const r = await runCli(["completion", "bash"], env, 60_000);
    assert.equal(r.code, 0, r.stderr);
    const script = path.join(tmp, "podfleet.bash");
    fs.writeFileSync(script, r.stdout);
    const complete = (...words: string[]) =>
      execFileSync(
        "bash",
        [
          "-c",
          `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _podfleet; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: "utf8" },
      ).trim();
    assert.equal(complete("podfleet", "jo"), "jobs");
    assert.equal(complete("podfleet", "jobs", "l"), "list logs");
    assert.equal(complete("podfleet", "fleet", "limits", "set", "--max-"), "--max-machines --max-starting --max-lifetime");
    assert.equal(complete("podfleet", "jobs", "list", "--st"), "--status");
  });

  test("zsh and fish scripts name every top-level command", async () => {
    for (const shell of ["zsh", "fish"]) {
      const r = await runCli(["completion", shell], env, 60_000);
      assert.equal(r.code, 0, r.stderr);
      for (const name of ["up", "transcribe", "jobs", "fleet", "machines", "tokens", "sources", "feeds", "models", "nats", "completion"]) {
        assert.match(r.stdout, new RegExp(`\\b${name}\\b`), `${shell}: ${name}`);
      }
    }
  });
});

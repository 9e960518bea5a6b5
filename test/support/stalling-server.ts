/**
 * An audio server whose first response stalls: it declares the whole file, sends 60 % of it and
 * then nothing (the download hangs mid-way, as when the orchestrator fetching it dies or a host
 * stops sending); every later request gets the whole file. For crash and takeover tests.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { CleanupContext } from "./cleanup.ts";

export async function stallFirstRequest(
  t: CleanupContext,
  bytes: Buffer,
  contentType = "audio/mpeg",
): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server = http.createServer((_req, res) => {
    requests++;
    res.writeHead(200, { "content-type": contentType, "content-length": bytes.length });
    if (requests === 1) res.write(bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    else res.end(bytes);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/a.mp3`, requests: () => requests };
}

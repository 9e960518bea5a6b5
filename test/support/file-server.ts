/**
 * A tiny static HTTP server on 127.0.0.1 for tests: serves the given files by path, and closes
 * itself when the test ends.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { CleanupContext } from "./cleanup.ts";

export async function serveFiles(
  t: CleanupContext,
  files: Record<string, { path: string; contentType: string }>,
): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? "");
    const file = files[req.url ?? ""];
    if (!file) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": file.contentType, "content-length": fs.statSync(file.path).size });
    fs.createReadStream(file.path).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

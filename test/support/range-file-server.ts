/**
 * A static file server on 127.0.0.1 that answers byte-range requests (206), as podcast hosts do:
 * a browser's audio player seeks with them. Closes itself when the test ends.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { CleanupContext } from "./cleanup.ts";

export async function serveRangeFiles(t: CleanupContext, files: Record<string, { path: string; contentType: string }>): Promise<{ url: string }> {
  const server = http.createServer((req, res) => {
    const file = files[req.url ?? ""];
    if (!file) return void res.writeHead(404).end("not found");
    const size = fs.statSync(file.path).size;
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? "");
    const headers = { "content-type": file.contentType, "accept-ranges": "bytes", "access-control-allow-origin": "*" };
    if (!range) {
      res.writeHead(200, { ...headers, "content-length": size });
      return void fs.createReadStream(file.path).pipe(res);
    }
    const start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
    const end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start >= size || start > end) return void res.writeHead(416, { "content-range": `bytes */${size}` }).end();
    res.writeHead(206, { ...headers, "content-length": end - start + 1, "content-range": `bytes ${start}-${end}/${size}` });
    fs.createReadStream(file.path, { start, end }).pipe(res);
  });
  // an audio element keeps its connection open: close those too when the test ends
  t.after(() => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

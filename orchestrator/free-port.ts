/**
 * Picks a TCP port for a child process that needs a fixed port of its own (nats-server keeps its
 * port across restarts, sqld in tests). A server of ours that can listen on port 0 itself should.
 */
import { createServer } from "node:net";

/** Returns a TCP port that was free a moment ago (bind port 0, read it, close). */
export async function pickFreePort(host = "127.0.0.1"): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr !== null ? addr.port : 0;
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

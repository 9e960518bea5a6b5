/**
 * A raw TCP server on 127.0.0.1 that reproduces undici issue #5360's trigger: it answers every
 * request with HTTP/1.1 200 and a Content-Length far larger than the socket buffers (8 MiB), and
 * ends the connection while the client is still behind on that body:
 * - "close": queues all but the last 64 KiB and ends at once, so the FIN travels right behind
 *   the data and reaches a reader that is still working through (paused on) megabytes of it, as
 *   an HTTP/1.0 server (python -m http.server) closing after its answer does;
 * - "reset": resets the connection once 2 MiB have gone out while 6 MiB are still queued.
 * Either way the body is unfinished, so a client must end with an error. A client that crashed
 * the process on this (undici 7) fails the calling test.
 */
import net, { type AddressInfo } from "node:net";

const CHUNK = 256 * 1024;
const RESET_AFTER_CHUNKS = 8;

export type CloseMode = "close" | "reset";

export interface BackpressureServer {
  url: string;
  /** Per response: bytes still queued on our side when we closed (> 0: the reader was behind). */
  queuedAtClose: number[];
  close(): Promise<void>;
}

export interface BackpressureOptions {
  mode: CloseMode;
  /** Declared body length (Content-Length). */
  declaredBytes?: number;
  contentType?: string;
}

export async function startBackpressureServer(opts: BackpressureOptions): Promise<BackpressureServer> {
  const declared = opts.declaredBytes ?? 8 * 1024 * 1024;
  const queuedAtClose: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined); // the client may reset too
    let head = "";
    let answered = false;
    // Keep reading (and dropping) whatever the client sends, so our close is a FIN, not a RST
    // for unread request bytes.
    socket.on("data", (chunk: Buffer) => {
      if (answered) return;
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      answered = true;
      socket.write(`HTTP/1.1 200 OK\r\ncontent-type: ${opts.contentType ?? "application/octet-stream"}\r\ncontent-length: ${declared}\r\n\r\n`);
      // 0x20 (a space) keeps JSON readers reading to the end rather than stopping at a bad byte.
      const filler = Buffer.alloc(CHUNK, 0x20);
      const chunks = Math.floor((declared - CHUNK / 4) / CHUNK);
      for (let i = 1; i <= chunks; i++) {
        socket.write(filler, () => {
          // this chunk has reached the kernel; the ones after it are still queued here
          if (opts.mode === "reset" && i === RESET_AFTER_CHUNKS && !socket.destroyed) {
            queuedAtClose.push(socket.writableLength);
            socket.resetAndDestroy();
          }
        });
      }
      if (opts.mode === "close") {
        queuedAtClose.push(socket.writableLength);
        socket.end();
      }
    });
  });

  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    queuedAtClose,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/**
 * Servers that misbehave the way real hosts and CDNs do, on 127.0.0.1, for tests and the hostile
 * soak (scripts/hostile-soak.ts): `python3 -m http.server` (HTTP/1.0, closes after each response),
 * a keep-alive HTTP/1.1 server, and raw TCP servers that trickle, never end, reset mid-body, fail
 * once (500, 429 + Retry-After, a reset) before answering, or close with a large body unread.
 * Content is looked up by the last path segment (`/anything/NAME.wav?x` serves NAME.wav), so
 * every episode can have its own URL, and "once" means once per path.
 */
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";

export type HostileKind = "http10" | "keepalive" | "trickle" | "endless" | "reset" | "reset-once" | "500-once" | "429-once" | "backpressure-close";

export interface RunningServer {
  kind: HostileKind | "raw";
  url: string;
  /** Requests seen, by path (with query). */
  hits: Map<string, number>;
  close(): Promise<void>;
}

/** Bytes to serve for a request path, or undefined for 404. */
export type ContentLookup = (pathname: string) => { body: Buffer; type: string } | undefined;

export interface RawRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
}

function parseHead(head: string): RawRequest {
  const [requestLine = "", ...lines] = head.split("\r\n");
  const [method = "GET", path = "/"] = requestLine.split(" ");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { method, path, headers };
}

/**
 * A TCP server that reads one request head (and its Content-Length body) per connection and hands
 * the socket to `respond`, which owns it from then on. Every socket is destroyed on close().
 */
export async function rawHttpServer(
  respond: (req: RawRequest, socket: net.Socket, body: Buffer) => void,
  kind: RunningServer["kind"] = "raw",
): Promise<RunningServer> {
  const sockets = new Set<net.Socket>();
  const hits = new Map<string, number>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined); // a client that resets is ordinary here
    let buffered = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buffered = Buffer.concat([buffered, d]);
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0) return;
      const req = parseHead(buffered.subarray(0, end).toString("latin1"));
      const want = Number(req.headers["content-length"] ?? 0);
      const body = buffered.subarray(end + 4);
      if (body.length < want) return;
      socket.off("data", onData);
      hits.set(req.path, (hits.get(req.path) ?? 0) + 1);
      respond(req, socket, body.subarray(0, want));
    };
    socket.on("data", onData);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    kind,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function head(status: string, headers: Record<string, string | number>): string {
  return `HTTP/1.1 ${status}\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join("")}\r\n`;
}

/** A whole response, then the connection closes. */
export function sendResponse(socket: net.Socket, status: string, body: Buffer | string, headers: Record<string, string | number> = {}): void {
  const bytes = typeof body === "string" ? Buffer.from(body) : body;
  socket.end(Buffer.concat([Buffer.from(head(status, { "content-length": bytes.length, connection: "close", ...headers })), bytes]));
}

function pathname(rawPath: string): string {
  return new URL(rawPath, "http://x").pathname;
}

/** Starts one hostile server of `kind` serving `lookup`'s content. */
export async function startHostileServer(kind: Exclude<HostileKind, "http10">, lookup: ContentLookup): Promise<RunningServer> {
  if (kind === "keepalive") return keepAliveServer(lookup);
  const timers = new Set<NodeJS.Timeout>();
  const server = await rawHttpServer((req, socket) => {
    const content = lookup(pathname(req.path));
    if (!content) return sendResponse(socket, "404 Not Found", "no such file\n");
    const first = server.hits.get(req.path) === 1;
    const okHead = head("200 OK", { "content-type": content.type, "content-length": content.body.length, connection: "close" });
    switch (kind) {
      case "trickle": {
        // the right headers, then one byte a second for as long as the client listens
        socket.write(okHead);
        let at = 0;
        const timer = setInterval(() => {
          if (socket.destroyed || at >= content.body.length) {
            clearInterval(timer);
            timers.delete(timer);
            socket.end();
            return;
          }
          socket.write(content.body.subarray(at, ++at));
        }, 1000);
        timers.add(timer);
        socket.on("close", () => {
          clearInterval(timer);
          timers.delete(timer);
        });
        return;
      }
      case "endless": {
        // chunked, never finished: the audio, then zeros forever (at the pace the client reads)
        socket.write(head("200 OK", { "content-type": content.type, "transfer-encoding": "chunked" }));
        const zeros = Buffer.alloc(64 * 1024);
        const frame = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from("\r\n")]);
        socket.write(frame(content.body));
        const pump = () => {
          while (!socket.destroyed && socket.write(frame(zeros)));
        };
        socket.on("drain", pump);
        pump();
        return;
      }
      case "reset":
      case "reset-once": {
        if (kind === "reset-once" && !first) return void socket.end(Buffer.concat([Buffer.from(okHead), content.body]));
        // half the body, then a TCP reset
        socket.write(Buffer.concat([Buffer.from(okHead), content.body.subarray(0, content.body.length >> 1)]), () => socket.resetAndDestroy());
        return;
      }
      case "500-once":
        if (first) return sendResponse(socket, "500 Internal Server Error", "try again\n");
        return void socket.end(Buffer.concat([Buffer.from(okHead), content.body]));
      case "429-once":
        if (first) return sendResponse(socket, "429 Too Many Requests", "slow down\n", { "retry-after": 2 });
        return void socket.end(Buffer.concat([Buffer.from(okHead), content.body]));
      case "backpressure-close":
        // the whole body in one write (far more than the socket buffers hold), then FIN at once:
        // the client sees the end of the stream while its reader is still paused
        socket.end(Buffer.concat([Buffer.from(okHead), content.body]));
        return;
    }
  }, kind);
  const close = server.close.bind(server);
  server.close = async () => {
    for (const t of timers) clearInterval(t);
    await close();
  };
  return server;
}

/** Node's HTTP/1.1 server: persistent connections, Content-Length, ETag-free. */
async function keepAliveServer(lookup: ContentLookup): Promise<RunningServer> {
  const hits = new Map<string, number>();
  const server = http.createServer({ keepAlive: true, keepAliveTimeout: 30_000 }, (req, res) => {
    hits.set(req.url ?? "/", (hits.get(req.url ?? "/") ?? 0) + 1);
    const content = lookup(pathname(req.url ?? "/"));
    if (!content) {
      res.writeHead(404, { "content-type": "text/plain" }).end("no such file\n");
      return;
    }
    res.writeHead(200, { "content-type": content.type, "content-length": content.body.length }).end(content.body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    kind: "keepalive",
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** `python3 -m http.server` on `dir` (HTTP/1.0: one response per connection, then close). */
export async function startPythonHttpServer(dir: string): Promise<RunningServer> {
  const child: ChildProcess = spawn("python3", ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`python3 -m http.server did not start: ${out}`)), 15_000);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`could not start python3 -m http.server: ${err.message}`));
    });
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.stderr!.resume(); // its access log: read and dropped, so it never blocks
  });
  return {
    kind: "http10",
    url: `http://127.0.0.1:${port}`,
    hits: new Map(),
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

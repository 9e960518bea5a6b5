/**
 * A server-sent events reader for tests: opens `url` with fetch and yields each event (`event`,
 * `id`, `data`, the time it arrived) as the server sends it, following the text/event-stream
 * rules the orchestrator uses (`event:`, `id:`, `data:` lines, blank line ends an event, `:`
 * lines are comments). The connection is closed when the test ends.
 */
import type { CleanupContext } from "./ingest-stack.ts";

export interface SseEvent {
  event: string;
  id: string | undefined;
  data: string;
  /** Date.now() when the event's last line arrived. */
  at: number;
}

export interface SseConnection {
  status: number;
  contentType: string | null;
  /** The events, in order, until the server ends the stream. */
  events: AsyncGenerator<SseEvent>;
  close(): void;
}

export async function openSse(t: CleanupContext, url: string, headers: Record<string, string> = {}): Promise<SseConnection> {
  const abort = new AbortController();
  t.after(() => abort.abort());
  const res = await fetch(url, { headers: { accept: "text/event-stream", ...headers }, signal: abort.signal });
  async function* read(): AsyncGenerator<SseEvent> {
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = "";
    let current: Omit<SseEvent, "at"> = { event: "message", id: undefined, data: "" };
    let hasData = false;
    try {
      for await (const bytes of res.body) {
        buffer += decoder.decode(bytes as Uint8Array, { stream: true });
        let nl: number;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, nl).replace(/\r$/, "");
          buffer = buffer.slice(nl + 1);
          if (line === "") {
            if (hasData) yield { ...current, at: Date.now() };
            current = { event: "message", id: undefined, data: "" };
            hasData = false;
          } else if (!line.startsWith(":")) {
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
            if (field === "event") current.event = value;
            else if (field === "id") current.id = value;
            else if (field === "data") {
              current.data = hasData ? `${current.data}\n${value}` : value;
              hasData = true;
            }
          }
        }
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    }
  }
  return { status: res.status, contentType: res.headers.get("content-type"), events: read(), close: () => abort.abort() };
}

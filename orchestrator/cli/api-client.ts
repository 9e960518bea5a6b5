/**
 * A small client for the orchestrator's HTTP API, used by the CLI. Errors carry the API's
 * `{error: {code, message}}` so the CLI can print one readable line.
 */
import fs from "node:fs";
import { Readable } from "node:stream";
import { request } from "undici";

export class ApiClientError extends Error {
  override name = "ApiClientError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token?: string,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  private async call<T>(
    method: "GET" | "POST" | "PUT" | "DELETE",
    path: string,
    init: { body?: unknown; raw?: { stream: Readable; contentType: string; length: number }; asText?: boolean } = {},
  ): Promise<T> {
    let res;
    try {
      res = await request(new URL(path, this.baseUrl), {
        method,
        headers: this.headers(
          init.raw
            ? { "content-type": init.raw.contentType, "content-length": String(init.raw.length) }
            : init.body !== undefined
              ? { "content-type": "application/json" }
              : {},
        ),
        body: init.raw ? init.raw.stream : init.body !== undefined ? JSON.stringify(init.body) : undefined,
      });
    } catch (err) {
      throw new ApiClientError(0, "unreachable", `cannot reach the orchestrator at ${this.baseUrl}: ${(err as Error).message}`);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      throw new ApiClientError(
        0,
        "connection_lost",
        `the orchestrator at ${this.baseUrl} closed the connection before its answer was complete${typeof code === "string" ? ` (${code})` : ""}`,
      );
    }
    if (res.statusCode >= 400) {
      let code = "http_error";
      let message = `HTTP ${res.statusCode}`;
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
        code = parsed.error?.code ?? code;
        message = parsed.error?.message ?? message;
      } catch {
        // not JSON: keep the status line
      }
      throw new ApiClientError(res.statusCode, code, message);
    }
    if (init.asText) return text as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiClientError(
        res.statusCode,
        "bad_response",
        `the orchestrator at ${this.baseUrl} answered HTTP ${res.statusCode} with a body that is not JSON`,
      );
    }
  }

  get<T>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("POST", path, { body });
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("PUT", path, { body });
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>("DELETE", path);
  }

  /** Upload a local file as the request body, streamed. */
  upload<T>(path: string, filePath: string): Promise<T> {
    const length = fs.statSync(filePath).size;
    return this.call<T>("POST", path, { raw: { stream: fs.createReadStream(filePath), contentType: "application/octet-stream", length } });
  }

  /** Fetch a text resource (a transcript file). */
  text(path: string): Promise<string> {
    return this.call<string>("GET", path, { asText: true });
  }
}

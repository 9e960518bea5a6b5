/**
 * In-process metrics on prom-client: the process and runtime metrics every Node exporter has
 * (`process_cpu_seconds_total`, `process_resident_memory_bytes`, `nodejs_eventloop_lag_seconds`,
 * `nodejs_heap_size_used_bytes`, …, from `collectDefaultMetrics`) and one count and latency per
 * HTTP request, labelled by route pattern (never the raw path, so ids do not explode the series),
 * method and status. Each app gets its own registry, so several apps in one process (tests) do
 * not share counters. The farm's own figures are read from the database (metrics-routes.ts).
 */
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { collectDefaultMetrics, Counter, Histogram, Registry } from "prom-client";

/** Upper bounds (seconds) of the request latency histogram. */
export const HTTP_LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

export class HttpMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<"method" | "route" | "status">;
  readonly #latency: Histogram<"method" | "route" | "status">;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const labelNames = ["method", "route", "status"] as const;
    this.#requests = new Counter({
      name: "podfleet_http_requests_total",
      help: "HTTP requests answered, by route pattern, method and status.",
      labelNames,
      registers: [this.registry],
    });
    this.#latency = new Histogram({
      name: "podfleet_http_request_duration_seconds",
      help: "Time from a request's arrival to its response headers (a streamed body may go on longer), by route pattern, method and status.",
      labelNames,
      buckets: [...HTTP_LATENCY_BUCKETS],
      registers: [this.registry],
    });
  }

  /** Registered first on the app, so it times every request, refused and unknown ones included. */
  middleware(): MiddlewareHandler {
    return async (c, next) => {
      const start = performance.now();
      try {
        await next();
      } finally {
        // the last matched route is the handler's; a request no route matched only reaches the app-wide "*"
        const pattern = routePath(c, -1);
        const labels = {
          method: c.req.method,
          route: pattern === "*" || pattern === "/*" || pattern === "" ? "unmatched" : pattern,
          status: String(c.res.status),
        };
        this.#requests.inc(labels);
        this.#latency.observe(labels, (performance.now() - start) / 1000);
      }
    };
  }

  /** The registry in Prometheus text format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

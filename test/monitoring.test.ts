/**
 * The front door's numbers: /metrics carries prom-client's process and runtime metrics, a count and
 * latency per HTTP request by route pattern, episodes by status, boot failures, queue age and the
 * budget; and the shipped alert rules and Grafana dashboard (ops/monitoring/) name only series that
 * /metrics really exports. In process against a real orchestrator with no machines.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parseConfig } from "../orchestrator/config.ts";
import { EPISODE_STATES } from "../orchestrator/episodes/lifecycle.ts";
import { renderMetrics } from "../orchestrator/http/metrics-routes.ts";
import { wavHeader } from "../orchestrator/ingest/audio-decode.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../orchestrator/orchestrator.ts";
import { Database } from "../orchestrator/store/database.ts";
import { until } from "./support/fleet-stack.ts";
import { exportedNames, parseStrict } from "./support/prometheus-text.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-monitoring-"));
const dataDir = path.join(tmp, "data");
const config = parseConfig(
  { PODFLEET_MAX_MACHINES: "0", PODFLEET_NATS_PREFIX: "montest", PODFLEET_LOG_LEVEL: "silent" },
  { dataDir, port: 0, host: "127.0.0.1" },
);
let orch: Orchestrator;

before(async () => {
  orch = await startOrchestrator(config, createLogger("silent"));
});
after(async () => {
  await orch?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const call = (p: string, init: RequestInit = {}, token = true) =>
  orch.api.app.request(p, {
    ...init,
    headers: { ...(token ? { authorization: `Bearer ${orch.adminToken}` } : {}), ...(init.headers as Record<string, string>) },
  });

async function scrape(): Promise<string> {
  const res = await call("/metrics");
  assert.equal(res.status, 200);
  return res.text();
}

function noiseWav(seconds: number): Buffer {
  const samples = seconds * 16_000;
  const pcm = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) pcm.writeInt16LE(Math.round(Math.sin(i / 7) * 3000 + ((i * 7919) % 2000) - 1000), i * 2);
  return Buffer.concat([wavHeader(samples), pcm]);
}

describe("/metrics", () => {
  test("process and runtime metrics, and HTTP requests counted by route pattern, method and status", async () => {
    for (let i = 0; i < 3; i++) assert.equal((await call(`/v1/episodes/ep_missing${i}`)).status, 404);
    assert.equal((await call("/no/such/path", {}, false)).status, 401);
    const v = parseStrict(await scrape());
    for (const name of [
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "process_start_time_seconds",
      "nodejs_eventloop_lag_seconds",
      "nodejs_heap_size_used_bytes",
    ]) {
      assert.ok(v.has(name), `${name} is exported`);
    }
    assert.ok(v.get("process_resident_memory_bytes")! > 0);
    assert.equal(
      v.get('podfleet_http_requests_total{method="GET",route="/v1/episodes/:id",status="404"}'),
      3,
      "three 404s, one series whatever the id",
    );
    assert.equal(v.get('podfleet_http_request_duration_seconds_count{method="GET",route="/v1/episodes/:id",status="404"}'), 3);
    assert.equal(v.get('podfleet_http_requests_total{method="GET",route="unmatched",status="401"}'), 1, "unknown paths share one series");
    assert.ok(![...v.keys()].some((k) => k.includes("ep_missing") || k.includes("/no/such")), "no raw path in a label");
  });

  test("episodes by status (every status from the start), queue age, boot failures and the budget", async () => {
    assert.equal(
      (
        await call("/v1/fleet/limits", {
          method: "PUT",
          body: JSON.stringify({ dailyBudgetMachineSeconds: 3600 }),
          headers: { "content-type": "application/json" },
        })
      ).status,
      200,
    );
    const before = parseStrict(await scrape());
    for (const status of EPISODE_STATES) assert.equal(before.get(`podfleet_episodes{status="${status}"}`), 0, status);
    assert.equal(before.get("podfleet_queue_oldest_seconds"), 0, "nothing waits");
    assert.equal(before.get("podfleet_boot_failures_total"), 0);
    assert.equal(before.get("podfleet_daily_budget_machine_seconds"), 3600);
    assert.equal(before.get("podfleet_machine_seconds_today"), 0);

    // no machines: the episode is cut and its chunks wait on the queue
    const res = await call("/v1/episodes?title=waits", { method: "POST", body: noiseWav(3), headers: { "content-type": "audio/wav" } });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    await until("episode transcribing", async () => ((await orch.store.getEpisode(id))?.status === "transcribing" ? true : undefined), 60_000);
    const now = parseStrict(await scrape());
    assert.equal(now.get('podfleet_episodes{status="transcribing"}'), 1);
    assert.ok(now.get('podfleet_chunks{state="queued"}')! >= 1);
    assert.ok(now.get("podfleet_queue_oldest_seconds")! >= 0);

    // the same database ten minutes later: the oldest queued chunk is ten minutes old
    const db = await Database.open(config.database.url);
    try {
      const later = parseStrict(
        await renderMetrics({ database: db, depth: async () => ({ pending: 0, inFlight: 0, waiting: 0 }), now: () => Date.now() + 600_000 }),
      );
      const age = later.get("podfleet_queue_oldest_seconds")!;
      assert.ok(age >= 600 && age < 900, `queue age ${age}`);
    } finally {
      db.close();
    }
  });
});

const PROMETHEUS_SYNTHESIZED = new Set(["up"]);

/** Series names in PromQL expressions: identifiers outside label matchers and strings that look like our metrics. */
function seriesNames(exprs: string[]): Set<string> {
  const names = new Set<string>();
  for (const expr of exprs) {
    const bare = expr.replace(/"(\\.|[^"\\])*"/g, '""').replace(/\{[^}]*\}/g, "{}");
    for (const m of bare.matchAll(/\b(podfleet_[a-z0-9_]+|process_[a-z0-9_]+|nodejs_[a-z0-9_]+|up)\b(?!\s*\()/g)) names.add(m[1]!);
  }
  return names;
}

function unknownNames(exprs: string[], exported: Set<string>): string[] {
  return [...seriesNames(exprs)].filter((n) => !exported.has(n) && !PROMETHEUS_SYNTHESIZED.has(n));
}

describe("ops/monitoring", () => {
  const dir = new URL("../ops/monitoring/", import.meta.url);
  const alerts = fs.readFileSync(new URL("alerts.yml", dir), "utf8");
  const alertExprs = [...alerts.matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!);
  const dashboard = JSON.parse(fs.readFileSync(new URL("grafana-dashboard.json", dir), "utf8")) as {
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
  };
  const panelExprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));

  test("every alert has a one-line expr, a severity and a summary; the four the operator needs are there", () => {
    const rules = alerts.split(/^\s+- alert: /m).slice(1);
    assert.equal(rules.length, alertExprs.length, "one expr per alert");
    for (const rule of rules) {
      assert.match(rule, /^\s+expr: \S/m, rule.split("\n")[0]);
      assert.match(rule, /^\s+severity: (warning|critical)$/m, rule.split("\n")[0]);
      assert.match(rule, /^\s+summary: ".+"$/m, rule.split("\n")[0]);
    }
    const used = seriesNames(alertExprs);
    for (const name of ["podfleet_queue_oldest_seconds", "podfleet_boot_failures_total", "podfleet_chunks", "podfleet_daily_budget_machine_seconds"])
      assert.ok(used.has(name), `an alert on ${name}`);
  });

  test("the alert rules and the dashboard name only series /metrics exports", async () => {
    // one request first, so the labelled HTTP series have samples as well as their TYPE lines
    await call("/healthz");
    const exported = exportedNames(await scrape());
    assert.ok(panelExprs.length >= 10 && alertExprs.length >= 5);
    assert.deepEqual(unknownNames(alertExprs, exported), [], "alerts.yml");
    assert.deepEqual(unknownNames(panelExprs, exported), [], "grafana-dashboard.json");
    // and the check notices a name that is not exported
    assert.deepEqual(unknownNames(['rate(podfleet_chunk_failures_total[5m]) > 0 and up{job="podfleet"}'], exported), [
      "podfleet_chunk_failures_total",
    ]);
  });
});

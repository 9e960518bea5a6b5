/**
 * Rate limiting on the public write endpoints: the token bucket as a table with a stepped clock,
 * then the middleware on the real app (submit and hooks get 429 + Retry-After; reads do not).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseConfig } from "../orchestrator/config.ts";
import type { EpisodeService } from "../orchestrator/episodes/episode-service.ts";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { createApi } from "../orchestrator/http/api.ts";
import { route } from "../orchestrator/http/api-route.ts";
import { parseTrustProxy } from "../orchestrator/http/client-address.ts";
import { TokenBuckets } from "../orchestrator/http/rate-limit.ts";
import { createLogger } from "../orchestrator/log.ts";

describe("TokenBuckets", () => {
  // perMinute 60 = one token a second; burst 3
  for (const [label, steps] of [
    [
      "a burst is allowed, then refused with the wait for one token",
      [
        [0, true],
        [0, true],
        [0, true],
        [0, false, 1],
      ],
    ],
    [
      "a token comes back after a second",
      [
        [0, true],
        [0, true],
        [0, true],
        [999, false, 1],
        [1, true],
        [0, false, 1],
      ],
    ],
    [
      "refill never exceeds the burst",
      [
        [0, true],
        [60_000, true],
        [0, true],
        [0, true],
        [0, false, 1],
      ],
    ],
    [
      "half a token means a 1 s wait, rounded up",
      [
        [0, true],
        [0, true],
        [0, true],
        [500, false, 1],
      ],
    ],
  ] as const) {
    test(label, () => {
      let now = 1_000_000;
      const buckets = new TokenBuckets({ perMinute: 60, burst: 3, now: () => now });
      for (const [advance, ok, retry] of steps as ReadonlyArray<readonly [number, boolean, number?]>) {
        now += advance;
        const r = buckets.take("1.2.3.4");
        assert.equal(r.ok, ok, `at +${advance} ms`);
        if (!r.ok) assert.equal(r.retryAfterSec, retry);
      }
    });
  }

  test("keys are independent, a slow rate gives a long Retry-After, and 0 turns limiting off", () => {
    let now = 0;
    const b = new TokenBuckets({ perMinute: 2, burst: 1, now: () => now });
    assert.equal(b.take("a").ok, true);
    assert.deepEqual(b.take("a"), { ok: false, retryAfterSec: 30 });
    assert.equal(b.take("b").ok, true);
    now += 30_000;
    assert.equal(b.take("a").ok, true);
    const off = new TokenBuckets({ perMinute: 0, burst: 1 });
    for (let i = 0; i < 100; i++) assert.equal(off.take("a").ok, true);
  });

  test("old keys are dropped beyond maxKeys (memory stays bounded)", () => {
    const b = new TokenBuckets({ perMinute: 1, burst: 1, now: () => 0, maxKeys: 2 });
    assert.equal(b.take("a").ok, true);
    assert.equal(b.take("b").ok, true);
    assert.equal(b.take("c").ok, true); // "a" dropped
    assert.equal(b.take("a").ok, true, "a fresh bucket again");
  });
});

describe("rate limit middleware on the app", () => {
  let now = 0;
  // Requests in budget carry malformed JSON, so the handler answers 400 before it needs episodes.
  // a route module of its own, drawing from the webhook bucket as hooks-routes.ts does
  const hook = route({
    method: "post",
    path: "/v1/hooks/{token}",
    access: "webhook",
    tag: "test",
    summary: "accepts anything",
    rateLimit: "webhook",
    responses: { 202: { description: "ok" } },
    handler: (c) => c.json({ ok: true }, 202),
  });
  const { app } = createApi(
    {
      episodes: { episodes: {} as EpisodeService, maxUploadBytes: 1024 },
      log: createLogger("silent"),
      rateLimit: { perMinute: 6, burst: 2, now: () => now },
    },
    { routes: [[hook]] },
  );
  const submit = () => app.request("/v1/episodes", { method: "POST", body: "{", headers: { "content-type": "application/json" } });

  test("submit: 2 then 429 with Retry-After, then allowed again after it", async () => {
    assert.equal((await submit()).status, 400);
    assert.equal((await submit()).status, 400);
    const limited = await submit();
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "10");
    const body = (await limited.json()) as { error: { code: string } };
    assert.equal(body.error.code, "rate_limited");
    now += 10_000;
    assert.equal((await submit()).status, 400);
  });

  test("hooks have their own bucket; reads are never limited", async () => {
    const hook = () => app.request("/v1/hooks/abc", { method: "POST", body: "{}", headers: { "content-type": "application/json" } });
    assert.equal((await hook()).status, 202);
    assert.equal((await hook()).status, 202);
    assert.equal((await hook()).status, 429);
    for (let i = 0; i < 10; i++) assert.equal((await app.request("/healthz")).status, 200);
  });

  test("config: defaults, off with 0, and a bad value names the variable", () => {
    assert.deepEqual(parseConfig({}).rateLimit, { perMinute: 60, burst: 30 });
    assert.equal(parseConfig({ PODFLEET_RATE_LIMIT_PER_MIN: "0" }).rateLimit.perMinute, 0);
    assert.throws(() => parseConfig({ PODFLEET_RATE_LIMIT_BURST: "lots" }), /invalid PODFLEET_RATE_LIMIT_BURST/);
    assert.throws(() => parseConfig({ PODFLEET_MAX_JSON_BYTES: "0" }), /invalid PODFLEET_MAX_JSON_BYTES/);
  });
});

describe("whose address a bucket is keyed on (PODFLEET_TRUST_PROXY), over a real socket", () => {
  /** An app limited to one request per client per minute, listening on 127.0.0.1; submit() answers 400 in budget, 429 beyond. */
  async function limitedServer(t: { after(fn: () => Promise<void>): void }, trust: string) {
    const { app } = createApi({
      episodes: { episodes: {} as EpisodeService, maxUploadBytes: 1024 },
      log: createLogger("silent"),
      rateLimit: { perMinute: 1, burst: 1, now: () => 0, trustProxy: parseTrustProxy(trust) },
    });
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, () => resolve(s));
    });
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/episodes`;
    return async (headers: Record<string, string> = {}): Promise<number> => {
      const res = await fetch(url, { method: "POST", body: "{", headers: { "content-type": "application/json", ...headers } });
      await res.body?.cancel();
      return res.status;
    };
  }

  test("none (default): spoofed Fly-Client-IP and X-Forwarded-For are ignored, every request is the socket's", async (t) => {
    assert.deepEqual(parseConfig({}).trustProxy, { kind: "none" });
    const submit = await limitedServer(t, "none");
    assert.equal(await submit({ "fly-client-ip": "203.0.113.1", "x-forwarded-for": "203.0.113.1" }), 400);
    assert.equal(await submit({ "fly-client-ip": "203.0.113.2", "x-forwarded-for": "203.0.113.2" }), 429);
    assert.equal(await submit(), 429);
  });

  test("fly: two Fly-Client-IPs get separate buckets; X-Forwarded-For still counts for nothing", async (t) => {
    const submit = await limitedServer(t, "fly");
    assert.equal(await submit({ "fly-client-ip": "203.0.113.1" }), 400);
    assert.equal(await submit({ "fly-client-ip": "2001:db8::7" }), 400);
    assert.equal(await submit({ "fly-client-ip": "203.0.113.1", "x-forwarded-for": "198.51.100.9" }), 429);
    assert.equal(await submit({ "fly-client-ip": "::ffff:203.0.113.1" }), 429, "the IPv4-mapped form is the same client");
    assert.equal(await submit(), 400, "without the header (Fly's private network): the socket address");
  });

  test("trusted proxy CIDRs: the right-most untrusted X-Forwarded-For entry, whatever the client put left of it", async (t) => {
    const submit = await limitedServer(t, "127.0.0.1/32, 10.0.0.0/8");
    assert.equal(await submit({ "x-forwarded-for": "192.0.2.1, 198.51.100.5, 10.1.1.1" }), 400);
    assert.equal(await submit({ "x-forwarded-for": "192.0.2.99, 198.51.100.5, 10.1.1.1" }), 429, "same client behind the same proxies");
    assert.equal(await submit({ "x-forwarded-for": "198.51.100.6" }), 400, "another client");
    assert.equal(await submit({ "fly-client-ip": "203.0.113.50", "x-forwarded-for": "198.51.100.6" }), 429, "Fly-Client-IP is not trusted here");
  });

  test("a socket outside the trusted ranges: its X-Forwarded-For is ignored", async (t) => {
    const submit = await limitedServer(t, "10.0.0.0/8");
    assert.equal(await submit({ "x-forwarded-for": "198.51.100.1" }), 400);
    assert.equal(await submit({ "x-forwarded-for": "198.51.100.2" }), 429);
  });

  test("config: fly, CIDR lists and single addresses parse; anything else names the variable", () => {
    assert.deepEqual(parseConfig({ PODFLEET_TRUST_PROXY: "fly" }).trustProxy, { kind: "fly" });
    const cidrs = parseConfig({ PODFLEET_TRUST_PROXY: "10.0.0.0/8, fd00::/8,192.0.2.7" }).trustProxy;
    assert.equal(cidrs.kind, "cidrs");
    assert.deepEqual(cidrs.kind === "cidrs" && cidrs.ranges.map(([a, bits]) => `${a.toString()}/${bits}`), [
      "10.0.0.0/8",
      "fd00::/8",
      "192.0.2.7/32",
    ]);
    assert.throws(() => parseConfig({ PODFLEET_TRUST_PROXY: "proxy" }), /invalid PODFLEET_TRUST_PROXY: "proxy" is not an IP address or CIDR range/);
    assert.throws(() => parseConfig({ PODFLEET_TRUST_PROXY: "10.0.0.0/33" }), /invalid PODFLEET_TRUST_PROXY/);
  });
});

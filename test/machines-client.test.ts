// MachinesClient against a scripted node:http server on 127.0.0.1: retry, error mapping,
// auth header and query encoding. Lifecycle round trips live in local-runtime.test.ts.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it, type TestContext } from "node:test";
import { inspect } from "node:util";
import { Agent } from "undici";
import { MachinesClient, type MachinesClientOptions } from "../orchestrator/fleet/machines-client.ts";
import {
  CapacityError,
  MachinesApiError,
  PermanentError,
  RateLimitedError,
  RequestTimeoutError,
  ServerError,
  WaitTimeoutError,
} from "../orchestrator/fleet/machines-errors.ts";

const TOKEN = "sekret-token-do-not-leak";
type Reply = { status: number; body?: unknown; headers?: Record<string, string> } | "hang";
interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

/** A server that answers the scripted replies in order (the last one repeats) and records requests. */
async function scripted(t: TestContext, replies: Reply[]): Promise<{ baseUrl: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", url: req.url ?? "", authorization: req.headers.authorization, body });
      const reply = replies[Math.min(seen.length - 1, replies.length - 1)] ?? { status: 500 };
      if (reply === "hang") {
        hanging.push(res);
        return;
      }
      res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
      res.end(reply.body === undefined ? "" : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  t.after(async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}/v1`, seen };
}

function client(baseUrl: string, extra: Partial<MachinesClientOptions> = {}): MachinesClient {
  return new MachinesClient({ baseUrl, app: "podfleet-workers", token: TOKEN, minTimeoutMs: 10, ...extra });
}

function assertNoToken(error: unknown): void {
  const text = `${String(error)} ${(error as Error).stack ?? ""} ${inspect((error as Error).cause)}`;
  assert.ok(!text.includes(TOKEN), "the token must never appear in an error");
}

const machine = { id: "abc123", name: "m", state: "created", region: "local" };

describe("MachinesClient retries", () => {
  it("waits for Retry-After on 429, then succeeds", async (t) => {
    const { baseUrl, seen } = await scripted(t, [
      { status: 429, body: { error: "rate limited" }, headers: { "retry-after": "1" } },
      { status: 200, body: machine },
    ]);
    const started = performance.now();
    const created = await client(baseUrl).create({ config: { image: "x" } });
    const elapsed = performance.now() - started;
    assert.equal(created.id, "abc123");
    assert.equal(seen.length, 2);
    assert.ok(elapsed >= 950, `Retry-After of 1 s honoured (waited ${elapsed.toFixed(0)} ms)`);
  });

  it("retries 503 twice then returns the 200 body", async (t) => {
    const { baseUrl, seen } = await scripted(t, [
      { status: 503, body: { error: "unavailable" } },
      { status: 503, body: { error: "unavailable" } },
      { status: 200, body: [machine] },
    ]);
    const list = await client(baseUrl).list();
    assert.deepEqual(
      list.map((m) => m.id),
      ["abc123"],
    );
    assert.equal(seen.length, 3);
  });

  it("gives up after retries+1 attempts with a ServerError", async (t) => {
    const { baseUrl, seen } = await scripted(t, [{ status: 500, body: { error: "boom" } }]);
    await assert.rejects(client(baseUrl, { retries: 2 }).get("abc123"), (error) => {
      assert.ok(error instanceof ServerError);
      assert.equal(error.status, 500);
      assert.equal(error.retryable, true);
      return true;
    });
    assert.equal(seen.length, 3);
  });

  it("keeps 429 with Retry-After bounded too", async (t) => {
    const { baseUrl, seen } = await scripted(t, [{ status: 429, body: { error: "slow down" }, headers: { "retry-after": "0" } }]);
    await assert.rejects(client(baseUrl, { retries: 3 }).list(), RateLimitedError);
    assert.equal(seen.length, 4);
  });

  it('maps status "insufficient_capacity" to CapacityError without retrying', async (t) => {
    const { baseUrl, seen } = await scripted(t, [
      { status: 412, body: { error: "insufficient resources available to fulfill request", status: "insufficient_capacity" } },
    ]);
    await assert.rejects(client(baseUrl).create({ config: { image: "x" } }), (error) => {
      assert.ok(error instanceof CapacityError);
      assert.equal(error.status, 412);
      assert.equal(error.retryable, false);
      assert.match(error.message, /insufficient resources/);
      assertNoToken(error);
      return true;
    });
    assert.equal(seen.length, 1);
  });

  // Fly's ErrorResponse.status decides, whatever the HTTP status: a 503 or a 429 carrying it is a
  // capacity error (next region), not a server error retried in place.
  for (const status of [409, 429, 500, 503]) {
    it(`maps HTTP ${status} with status "insufficient_capacity" to CapacityError, once`, async (t) => {
      const { baseUrl, seen } = await scripted(t, [
        { status, body: { error: "no room", status: "insufficient_capacity" }, headers: { "retry-after": "0" } },
      ]);
      await assert.rejects(client(baseUrl).create({ config: { image: "x" } }), (e) => e instanceof CapacityError && e.status === status);
      assert.equal(seen.length, 1);
    });
  }

  it("does not guess capacity from wording: a 412 without the status code is a PermanentError", async (t) => {
    const { baseUrl } = await scripted(t, [{ status: 412, body: { error: "insufficient memory available" } }]);
    await assert.rejects(client(baseUrl).create({ config: { image: "x" } }), (e) => e instanceof PermanentError && !(e instanceof CapacityError));
  });

  it("maps 422 to PermanentError without retrying", async (t) => {
    const { baseUrl, seen } = await scripted(t, [{ status: 422, body: { error: "invalid config.image" } }]);
    await assert.rejects(client(baseUrl).create({ config: { image: "" } }), (error) => {
      assert.ok(error instanceof PermanentError);
      assert.equal(error.status, 422);
      assert.equal(error.code, "unprocessable");
      return true;
    });
    assert.equal(seen.length, 1);
  });

  it("maps 401 to PermanentError and never puts the token in the error", async (t) => {
    const { baseUrl, seen } = await scripted(t, [{ status: 401, body: { error: "unauthorized" } }]);
    await assert.rejects(client(baseUrl).list(), (error) => {
      assert.ok(error instanceof PermanentError);
      assert.equal(error.status, 401);
      assertNoToken(error);
      return true;
    });
    assert.equal(seen.length, 1);
  });

  it("maps wait 408 to WaitTimeoutError without retrying", async (t) => {
    const { baseUrl, seen } = await scripted(t, [{ status: 408, body: { error: "deadline_exceeded" } }]);
    await assert.rejects(client(baseUrl).wait("abc123", "started", 1), WaitTimeoutError);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.url, "/v1/apps/podfleet-workers/machines/abc123/wait?state=started&timeout=1");
  });

  it("rejects wait timeouts outside 1..60 before sending anything", async (t) => {
    const { baseUrl, seen } = await scripted(t, [{ status: 200, body: { ok: true } }]);
    await assert.rejects(client(baseUrl).wait("abc123", "started", 61), RangeError);
    assert.equal(seen.length, 0);
  });

  it("turns connection refused into RequestTimeoutError after bounded attempts", async (t) => {
    const { baseUrl } = await scripted(t, [{ status: 200, body: [] }]);
    const dead = baseUrl.replace(/:\d+\//, ":1/");
    await assert.rejects(client(dead, { retries: 1 }).list(), (error) => {
      assert.ok(error instanceof RequestTimeoutError);
      assert.equal(error.retryable, true);
      assertNoToken(error);
      return true;
    });
  });

  it("turns a server that never answers into RequestTimeoutError", async (t) => {
    const { baseUrl, seen } = await scripted(t, ["hang"]);
    await assert.rejects(client(baseUrl, { retries: 1, requestTimeoutMs: 200 }).get("abc123"), RequestTimeoutError);
    assert.equal(seen.length, 2);
  });
});

describe("MachinesClient requests", () => {
  it("sends Bearer for plain tokens and FlyV1 tokens verbatim", async (t) => {
    const { baseUrl, seen } = await scripted(t, [{ status: 200, body: [] }]);
    await client(baseUrl).list();
    await new MachinesClient({ baseUrl, app: "podfleet-workers", token: "FlyV1 fm2_abc,def" }).list();
    assert.equal(seen[0]?.authorization, `Bearer ${TOKEN}`);
    assert.equal(seen[1]?.authorization, "FlyV1 fm2_abc,def");
  });

  it("encodes list filters the way Fly expects", async (t) => {
    const { baseUrl, seen } = await scripted(t, [{ status: 200, body: [] }]);
    await client(baseUrl).list({
      state: ["started", "starting"],
      metadata: { pool: "whisper", "podfleet.run": "r1" },
      region: "ams",
      includeDeleted: true,
      summary: true,
    });
    const url = new URL(seen[0]?.url ?? "", "http://x");
    assert.equal(url.pathname, "/v1/apps/podfleet-workers/machines");
    assert.equal(url.searchParams.get("state"), "started,starting");
    assert.equal(url.searchParams.get("metadata.pool"), "whisper");
    assert.equal(url.searchParams.get("metadata.podfleet.run"), "r1");
    assert.equal(url.searchParams.get("region"), "ams");
    assert.equal(url.searchParams.get("include_deleted"), "true");
    assert.equal(url.searchParams.get("summary"), "true");
  });

  it("sends stop, start, destroy and events to their routes", async (t) => {
    const { baseUrl, seen } = await scripted(t, [{ status: 200, body: { ok: true } }]);
    const c = client(baseUrl);
    await c.stop("m1", { signal: "SIGTERM", timeout: 7 });
    await c.start("m1");
    await c.destroy("m1", { force: true });
    await c.events("m1");
    assert.deepEqual(
      seen.map((s) => `${s.method} ${s.url}`),
      [
        "POST /v1/apps/podfleet-workers/machines/m1/stop",
        "POST /v1/apps/podfleet-workers/machines/m1/start",
        "DELETE /v1/apps/podfleet-workers/machines/m1?force=true",
        "GET /v1/apps/podfleet-workers/machines/m1/events",
      ],
    );
    assert.deepEqual(JSON.parse(seen[0]?.body ?? ""), { signal: "SIGTERM", timeout: "7s" });
  });

  it("sends requests through the dispatcher it is given", async (t) => {
    const { baseUrl, seen } = await scripted(t, [{ status: 200, body: [] }]);
    const agent = new Agent({ connections: 1 });
    t.after(() => agent.close());
    let dispatched = 0;
    const counting = agent.compose((dispatch) => (options, handler) => {
      dispatched += 1;
      return dispatch(options, handler);
    });
    await client(baseUrl, { dispatcher: counting }).list();
    assert.equal(dispatched, 1);
    assert.equal(seen.length, 1);
  });

  it("bounds the retry count to at most 10", async (t) => {
    const { baseUrl, seen } = await scripted(t, [{ status: 503, body: { error: "x" } }]);
    await assert.rejects(client(baseUrl, { retries: 1000, minTimeoutMs: 0 }).list(), MachinesApiError);
    assert.equal(seen.length, 11);
  });
});

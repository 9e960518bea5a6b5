/**
 * The bad-input corpus: hostile and broken inputs, each with the clear outcome it must get, and
 * none may crash or hang the orchestrator. Rows run against a real in-process orchestrator (no
 * workers) and real local HTTP servers on 127.0.0.1; the SSRF rows that need a "public" server
 * to redirect from call fetchAudio with 127.0.0.1 alone treated as public.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { parseConfig } from "../orchestrator/config.ts";
import { parseFeedDocument, FeedParseError } from "../orchestrator/feeds/feed-document.ts";
import { fetchFeed, FeedFetchError } from "../orchestrator/feeds/feed-fetch.ts";
import { fetchAudio } from "../orchestrator/ingest/fetch-audio.ts";
import { isBlockedAddress } from "../orchestrator/outbound/address-policy.ts";
import { BadInputError } from "../orchestrator/ingest/ingest-errors.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../orchestrator/orchestrator.ts";
import { signStandard } from "../orchestrator/sources/webhook-signature.ts";

const MAX_AUDIO = 64 * 1024;
const MAX_JSON = 4096;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-corpus-"));

// ---- a local server with one route per hostile behaviour --------------------------------------
let sentBytes = 0;
let endlessClosed: Promise<void> = Promise.resolve();
const sockets = new Set<import("node:net").Socket>();
const server = http.createServer((req, res) => {
  const route = req.url ?? "/";
  const mp3 = path.join(tmp, "tone.mp3");
  switch (route) {
    case "/notes.mp3":
      return res.writeHead(200, { "content-type": "audio/mpeg" }).end("These are show notes, not audio.\n".repeat(40));
    case "/page.mp3":
      return res.writeHead(200, { "content-type": "text/html" }).end("<!doctype html><html><body><h1>Episode</h1></body></html>");
    case "/truncated.mp3":
      return res.writeHead(200, { "content-type": "audio/mpeg" }).end(fs.readFileSync(mp3).subarray(0, 300));
    case "/empty.mp3":
      return res.writeHead(200, { "content-type": "audio/mpeg", "content-length": "0" }).end();
    case "/declared-huge.mp3":
      res.writeHead(200, { "content-type": "audio/mpeg", "content-length": String(MAX_AUDIO * 100) });
      return res.write(Buffer.alloc(1024));
    case "/endless.mp3": {
      // chunked, no length: only the byte cap can stop it; the client must hang up, not buffer it
      res.writeHead(200, { "content-type": "audio/mpeg" });
      endlessClosed = new Promise((r) => res.on("close", () => r()));
      const block = Buffer.alloc(16 * 1024, 0xff);
      const pump = () => {
        while (!res.destroyed && res.write(block)) sentBytes += block.length;
        if (!res.destroyed) res.once("drain", pump);
      };
      return pump();
    }
    case "/never-answers.mp3":
      return; // headers never come
    case "/stalls.mp3":
      res.writeHead(200, { "content-type": "audio/mpeg" });
      return res.write(Buffer.alloc(2048)); // then nothing, forever
    case "/loop":
      return res.writeHead(302, { location: "/loop" }).end();
    case "/missing.mp3":
      return res.writeHead(404).end();
    case "/to-metadata":
      return res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" }).end();
    case "/to-localhost":
      return res.writeHead(307, { location: `http://localhost:${port()}/notes.mp3` }).end();
    case "/to-private":
      return res.writeHead(301, { location: "http://10.0.0.7/notes.mp3" }).end();
    case "/huge-feed.xml":
      res.writeHead(200, { "content-type": "application/rss+xml" });
      res.write(`<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>`);
      for (let i = 0; i < 200; i++) res.write(`<item><title>${"t".repeat(1000)}</title></item>`);
      return res.end("</channel></rss>");
    default:
      return res.writeHead(404).end();
  }
});
server.on("connection", (s) => {
  sockets.add(s);
  s.on("close", () => sockets.delete(s));
});
const port = () => (server.address() as AddressInfo).port;
const at = (p: string) => `http://127.0.0.1:${port()}${p}`;

let open: Orchestrator; // private URLs allowed: reaches the local server
let strict: Orchestrator; // the default policy
before(async () => {
  execFileSync("ffmpeg", [
    "-loglevel",
    "error",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:duration=2",
    "-c:a",
    "libmp3lame",
    path.join(tmp, "tone.mp3"),
  ]);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const env = {
    PODFLEET_MAX_MACHINES: "0",
    PODFLEET_MAX_AUDIO_BYTES: String(MAX_AUDIO),
    PODFLEET_MAX_JSON_BYTES: String(MAX_JSON),
    PODFLEET_FETCH_TIMEOUT_SEC: "3", // short, so the two hanging servers fail fast; not 1 s: a loaded machine can take that to answer a local request
    // timeouts are transient (retried for an hour by default): here they fail at once, with the reason
    PODFLEET_FETCH_RETRY_WINDOW_SEC: "0",
    PODFLEET_RATE_LIMIT_PER_MIN: "0",
  };
  open = await startOrchestrator(
    parseConfig({ ...env, PODFLEET_ALLOW_PRIVATE_URLS: "1", PODFLEET_NATS_PREFIX: "corpusopen" }, { dataDir: path.join(tmp, "open"), port: 0 }),
    createLogger("silent"),
  );
  strict = await startOrchestrator(
    parseConfig({ ...env, PODFLEET_NATS_PREFIX: "corpusstrict" }, { dataDir: path.join(tmp, "strict"), port: 0 }),
    createLogger("silent"),
  );
});
after(async () => {
  await open?.close();
  await strict?.close();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const bearer = (orch: Orchestrator) => ({ authorization: `Bearer ${orch.adminToken}` });

async function submit(orch: Orchestrator, audioUrl: string): Promise<Response> {
  return fetch(`${orch.url}/v1/episodes`, {
    method: "POST",
    body: JSON.stringify({ audioUrl }),
    headers: { "content-type": "application/json", ...bearer(orch) },
  });
}

/** Submits the URL, waits (bounded) for the episode to fail, returns its error. */
async function failureOf(orch: Orchestrator, audioUrl: string): Promise<string> {
  const res = await submit(orch, audioUrl);
  assert.equal(res.status, 202, await res.clone().text());
  const { id } = (await res.json()) as { id: string };
  const deadline = Date.now() + 15_000;
  for (;;) {
    const view = (await (await fetch(`${orch.url}/v1/episodes/${id}`, { headers: bearer(orch) })).json()) as { status: string; error: string | null };
    if (view.status === "failed") return view.error ?? "";
    assert.ok(view.status === "received" || view.status === "ingesting", `unexpected status ${view.status}`);
    assert.ok(Date.now() < deadline, "the episode did not fail in time (a hang)");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("audio URLs that must fail their episode with a clear reason", () => {
  for (const [label, route, expected] of [
    ["a text file served as audio/mpeg", "/notes.mp3", /not an audio file/],
    ["an HTML page", "/page.mp3", /not an audio file/],
    ["a truncated MP3 (300 bytes)", "/truncated.mp3", /not an audio file|no audio|could not decode|truncated|too short|empty/i],
    ["a 0-byte file", "/empty.mp3", /empty \(0 bytes\)/],
    ["a declared length over the cap", "/declared-huge.mp3", /over the 65536-byte limit/],
    ["an endless body (no length), cut at the cap", "/endless.mp3", /over the 65536-byte limit/],
    ["a server that never sends headers", "/never-answers.mp3", /took longer than 3 s|timed out/],
    ["a server that stalls mid-body", "/stalls.mp3", /took longer than 3 s|timed out/],
    ["a redirect loop", "/loop", /more than 5 redirects/],
    ["a 404", "/missing.mp3", /answered HTTP 404/],
  ] as const) {
    test(`${label} → failed: ${expected}`, async () => {
      const started = Date.now();
      assert.match(await failureOf(open, at(route)), expected);
      assert.ok(Date.now() - started < 10_000, "bounded in time");
    });
  }

  test("the endless body was streamed and cut off, never buffered whole", async () => {
    await endlessClosed; // the orchestrator hung up
    assert.ok(sentBytes < 64 * MAX_AUDIO, `server pushed ${sentBytes} bytes before the hang-up`);
    assert.deepEqual(
      fs.readdirSync(path.join(tmp, "open", "work")).filter((f) => f.endsWith(".source")),
      [],
      "no partial download left",
    );
  });
});

describe("private, loopback, link-local and metadata addresses", () => {
  for (const url of [
    "http://127.0.0.1/a.mp3",
    "http://10.1.2.3/a.mp3",
    "http://192.168.0.10/a.mp3",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/a.mp3",
    "http://[fe80::1]/a.mp3",
    "http://[::ffff:127.0.0.1]/a.mp3",
    "http://0x7f000001/a.mp3", // hex form of 127.0.0.1
    "http://localhost./a.mp3",
    // issue 13: NAT64, IPv4-compatible and 6to4 forms of loopback and of the metadata address
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    "http://[64:ff9b::7f00:1]/a.mp3",
    "http://[::127.0.0.1]/a.mp3",
    "http://[2002:7f00:1::]/a.mp3",
  ]) {
    test(`${url} → 400 private_address`, async () => {
      const res = await submit(strict, url);
      assert.equal(res.status, 400);
      const { error } = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, "private_address");
      assert.match(error.message, /PODFLEET_ALLOW_PRIVATE_URLS/);
    });
  }

  test("a URL with a user name and password → 400 credentials_in_url, the password not echoed", async () => {
    const res = await submit(strict, "https://podcaster:s3cret-pw@cdn.example.com/a.mp3");
    assert.equal(res.status, 400);
    const text = await res.text();
    assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, "credentials_in_url");
    assert.ok(!text.includes("s3cret-pw"), text);
  });

  test("a hostname that resolves to loopback is refused at connect time (episode fails)", async () => {
    assert.match(await failureOf(strict, `http://${os.hostname()}:${port()}/notes.mp3`), /private or loopback/);
  });

  // Here 127.0.0.1 stands in for a public server; anything else private stays refused.
  const onlyLocalIsPublic = (a: string) => a !== "127.0.0.1" && isBlockedAddress(a);
  for (const [route, what] of [
    ["/to-metadata", "the metadata address"],
    ["/to-localhost", "localhost"],
    ["/to-private", "a private address"],
  ] as const) {
    test(`a redirect to ${what} is refused`, async () => {
      const dest = path.join(tmp, `redirect${route.replace(/\W/g, "-")}`);
      const err = await fetchAudio(at(route), dest, {
        allowPrivate: false,
        maxBytes: MAX_AUDIO,
        timeoutMs: 2_000,
        isBlocked: onlyLocalIsPublic,
      }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof BadInputError, `got ${String(err)}`);
      assert.equal(err.code, "private_address");
      assert.equal(fs.existsSync(dest), false);
    });
  }
  test("the same server is reachable under that policy (the refusals above are about the target)", async () => {
    const r = await fetchAudio(at("/notes.mp3"), path.join(tmp, "ok.bin"), {
      allowPrivate: false,
      maxBytes: MAX_AUDIO,
      timeoutMs: 2_000,
      isBlocked: onlyLocalIsPublic,
    });
    assert.ok(r.bytes > 0);
  });
});

describe("request bodies", () => {
  const post = (body: string | ReadableStream<Uint8Array>, type: string, extra: RequestInit = {}) =>
    fetch(`${strict.url}/v1/episodes`, { method: "POST", body, headers: { "content-type": type, ...bearer(strict) }, ...extra });
  const stream = (bytes: number) =>
    new ReadableStream<Uint8Array>({
      start(c) {
        for (let sent = 0; sent < bytes; sent += 8192) c.enqueue(new Uint8Array(8192).fill(0x41));
        c.close();
      },
    });

  test("malformed JSON → 400 invalid_json", async () => {
    const res = await post('{"audioUrl": ', "application/json");
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "invalid_json");
  });
  test("an oversized JSON body with a length → 413", async () => {
    const res = await post(JSON.stringify({ audioUrl: "https://example.com/a.mp3", title: "x".repeat(MAX_JSON) }), "application/json");
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "too_large");
  });
  test("an oversized chunked JSON body → 413 without reading it all", async () => {
    const res = await post(stream(MAX_JSON * 64), "application/json", { duplex: "half" });
    assert.equal(res.status, 413);
  });
  test("an oversized chunked upload → 413 too_large, and no upload is kept", async () => {
    const res = await post(stream(MAX_AUDIO * 4), "audio/mpeg", { duplex: "half" }).catch((e: unknown) => e);
    // the server may answer before it has read the whole body, or reset the connection
    if (res instanceof Response) {
      assert.equal(res.status, 413);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, "too_large");
    }
    const uploads = path.join(tmp, "strict", "uploads");
    assert.deepEqual(fs.existsSync(uploads) ? fs.readdirSync(uploads) : [], []);
  });
});

describe("feeds", () => {
  test("an XML entity bomb is refused before parsing", () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><rss version="2.0"><channel><title>&d;&d;&d;&d;</title></channel></rss>`;
    assert.throws(() => parseFeedDocument(bomb), FeedParseError);
  });
  test("an entity bomb hidden behind a long comment is refused too", () => {
    const bomb = `<?xml version="1.0"?><!-- ${"x".repeat(100_000)} --><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><rss version="2.0"><channel><title>&b;</title></channel></rss>`;
    const started = Date.now();
    assert.throws(() => parseFeedDocument(bomb), FeedParseError);
    assert.ok(Date.now() - started < 2_000);
  });
  test("a huge feed is cut off at the size cap", async () => {
    const err = await fetchFeed(
      at("/huge-feed.xml"),
      { etag: null, lastModified: null },
      { allowPrivate: true, maxBytes: 50_000, maxRedirects: 5, timeoutMs: 5_000 },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof FeedFetchError, `got ${String(err)}`);
    assert.match(err.message, /over the 50000-byte limit/);
  });
});

describe("webhook signatures", () => {
  let hookUrl: string;
  let secret: string;
  before(async () => {
    const res = await fetch(`${strict.url}/v1/sources`, {
      method: "POST",
      body: JSON.stringify({ name: "corpus", scheme: "standard" }),
      headers: { "content-type": "application/json", ...bearer(strict) },
    });
    assert.equal(res.status, 201);
    const src = (await res.json()) as { url: string; secret: string };
    hookUrl = src.url.replace(/^https?:\/\/[^/]+/, strict.url);
    secret = src.secret;
  });
  const body = JSON.stringify({ audioUrl: "https://example.com/ep1.mp3", title: "Ep 1" });
  const send = (headers: Record<string, string>, b = body) =>
    fetch(hookUrl, { method: "POST", body: b, headers: { "content-type": "application/json", ...headers } });
  const now = () => Math.floor(Date.now() / 1000);

  test("no signature → 401 missing_signature", async () => {
    const res = await send({});
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "missing_signature");
  });
  test("a signature by another secret → 401 bad_signature", async () => {
    const ts = now();
    const res = await send({
      "webhook-id": "msg_1",
      "webhook-timestamp": String(ts),
      "webhook-signature": signStandard("whsec_" + Buffer.alloc(24, 7).toString("base64"), "msg_1", ts, body),
    });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "bad_signature");
  });
  test("a valid signature over a tampered body → 401 bad_signature", async () => {
    const ts = now();
    const res = await send(
      { "webhook-id": "msg_2", "webhook-timestamp": String(ts), "webhook-signature": signStandard(secret, "msg_2", ts, body) },
      body.replace("Ep 1", "Ep 2"),
    );
    assert.equal(res.status, 401);
  });
  test("a replay of an old delivery (timestamp outside the window) → 401 expired", async () => {
    const ts = now() - 3600;
    const res = await send({ "webhook-id": "msg_3", "webhook-timestamp": String(ts), "webhook-signature": signStandard(secret, "msg_3", ts, body) });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, "expired");
  });
  test("a replay of a fresh delivery (same webhook-id) creates no second episode", async () => {
    const ts = now();
    const headers = { "webhook-id": "msg_4", "webhook-timestamp": String(ts), "webhook-signature": signStandard(secret, "msg_4", ts, body) };
    const first = (await (await send(headers)).json()) as { outcome: string; episodeId: string };
    assert.equal(first.outcome, "queued");
    const again = await send(headers);
    assert.ok(again.status < 300);
    const second = (await again.json()) as { outcome: string; episodeId: string };
    assert.equal(second.outcome, "duplicate");
    assert.equal(second.episodeId, first.episodeId);
  });
});

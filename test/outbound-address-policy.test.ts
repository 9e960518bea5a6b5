/**
 * The address policy: only globally routable unicast passes, whatever form an address is written
 * in (NAT64, 6to4, Teredo, IPv4-mapped/-compatible, site-local, documentation…); IP literals are
 * refused before any connection is made, and the guarded agent checks the address it connects
 * to even when no URL check ran before it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, test } from "node:test";
import { request } from "undici";
import { fetchAudio } from "../orchestrator/ingest/fetch-audio.ts";
import { BadInputError } from "../orchestrator/ingest/ingest-errors.ts";
import { addressClass, isBlockedAddress } from "../orchestrator/outbound/address-policy.ts";
import { createGuardedAgent } from "../orchestrator/outbound/guarded-agent.ts";
import { checkUrl } from "../orchestrator/outbound/url-policy.ts";

describe("addresses that are refused", () => {
  for (const [address, why] of [
    // the forms issue 13 found passing
    ["64:ff9b::7f00:1", "NAT64 form of 127.0.0.1"],
    ["64:ff9b::a9fe:a9fe", "NAT64 form of the metadata address"],
    ["2002:7f00:1::", "6to4 form of 127.0.0.1"],
    ["fec0::1", "site-local (deprecated)"],
    ["::127.0.0.1", "IPv4-compatible 127.0.0.1"],
    ["2001:db8::1", "IPv6 documentation"],
    ["192.88.99.1", "6to4 relay anycast"],
    // the other non-unicast ranges
    ["64:ff9b:1::808:808", "local-use NAT64 prefix (RFC 8215)"],
    ["64:ff9b::a00:1", "NAT64 form of 10.0.0.1"],
    ["2002:808:808::1", "6to4, even of a public address"],
    ["2001::1", "Teredo"],
    ["2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo (a real-looking one)"],
    ["::8.8.8.8", "IPv4-compatible, even of a public address"],
    ["::7f00:1", "IPv4-compatible, as the URL parser writes it"],
    ["::ffff:127.0.0.1", "IPv4-mapped loopback"],
    ["::ffff:169.254.169.254", "IPv4-mapped metadata"],
    ["::ffff:0:127.0.0.1", "IPv4-translated (RFC 6145)"],
    ["127.0.0.1", "loopback"],
    ["::1", "IPv6 loopback"],
    ["0.0.0.0", "unspecified"],
    ["::", "IPv6 unspecified"],
    ["0.1.2.3", "0/8"],
    ["10.1.2.3", "private 10/8"],
    ["172.16.5.4", "private 172.16/12"],
    ["192.168.1.1", "private 192.168/16"],
    ["100.64.0.1", "carrier-grade NAT 100.64/10"],
    ["169.254.169.254", "link-local, the metadata address"],
    ["fe80::1", "IPv6 link-local"],
    ["fe80::1%lo", "link-local with a zone"],
    ["fd00::1", "unique local (Fly 6PN)"],
    ["fc00::1", "unique local"],
    ["198.18.0.1", "benchmarking 198.18/15"],
    ["198.19.255.255", "benchmarking 198.18/15, top"],
    ["192.0.0.8", "IETF protocol assignments"],
    ["192.0.2.1", "documentation TEST-NET-1"],
    ["198.51.100.1", "documentation TEST-NET-2"],
    ["203.0.113.1", "documentation TEST-NET-3"],
    ["240.0.0.1", "reserved 240/4"],
    ["255.255.255.255", "broadcast"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast (SSDP)"],
    ["ff02::1", "IPv6 multicast"],
    ["100::1", "IPv6 discard"],
    ["2001:2::1", "IPv6 benchmarking"],
    ["4000::1", "outside 2000::/3 (unallocated)"],
    ["not-an-address", "not an address at all"],
  ] as const) {
    test(`${address} (${why})`, () => {
      assert.equal(isBlockedAddress(address), true, `classified as ${addressClass(address)}`);
    });
  }
});

describe("addresses that pass", () => {
  for (const address of ["8.8.8.8", "1.1.1.1", "151.101.1.1", "2606:4700::1111", "2a00:1450:4001:80b::200e", "::ffff:8.8.8.8", "64:ff9b::808:808"]) {
    test(address, () => assert.equal(isBlockedAddress(address), false, `classified as ${addressClass(address)}`));
  }
});

describe("URL literals", () => {
  for (const url of [
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    "http://[64:ff9b::7f00:1]/a.mp3",
    "http://[2002:7f00:1::]/a.mp3",
    "http://[fec0::1]/a.mp3",
    "http://[::127.0.0.1]/a.mp3",
    "http://[2001:db8::1]/a.mp3",
    "http://192.88.99.1/a.mp3",
    "http://0x7f000001/a.mp3",
    "http://2130706433/a.mp3",
  ]) {
    test(`${url} is refused by the URL check`, () => {
      assert.throws(
        () => checkUrl(url, false),
        (e: unknown) => e instanceof BadInputError && e.code === "private_address",
      );
    });
  }
  test("...and allowed when the operator allowed private URLs", () => {
    assert.equal(checkUrl("http://[64:ff9b::a9fe:a9fe]/", true).hostname, "[64:ff9b::a9fe:a9fe]");
  });

  test("http://[64:ff9b::a9fe:a9fe]/ fails fast with private_address, writing nothing", async () => {
    const dest = path.join(os.tmpdir(), `outbound-nat64-${process.pid}`);
    const started = Date.now();
    const err = await fetchAudio("http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", dest, {
      allowPrivate: false,
      maxBytes: 1000,
      timeoutMs: 10_000,
    }).catch((e: unknown) => e);
    assert.ok(err instanceof BadInputError && err.code === "private_address", String(err));
    assert.ok(Date.now() - started < 1_000, "no connection attempt was waited on");
    assert.equal(fs.existsSync(dest), false);
  });
});

describe("the guarded agent at connect time", () => {
  /** A listener on 127.0.0.1 that counts the connections it gets. */
  async function countingServer(t: { after(fn: () => Promise<void>): void }): Promise<{ port: number; connections: () => number }> {
    let connections = 0;
    const server = net.createServer((s) => {
      connections++;
      s.once("data", () => s.end("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    t.after(() => new Promise<void>((r) => server.close(() => r())));
    return { port: (server.address() as AddressInfo).port, connections: () => connections };
  }

  test("an IP literal the policy refuses is never connected to, even without a URL check first", async (t) => {
    const { port, connections } = await countingServer(t);
    const agent = createGuardedAgent({ allowPrivate: false, connectTimeoutMs: 2_000, headersTimeoutMs: 2_000, bodyTimeoutMs: 2_000 });
    t.after(() => agent.destroy());
    const err = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent }).catch((e: unknown) => e);
    const refusal = err instanceof BadInputError ? err : (err as { cause?: unknown }).cause;
    assert.ok(refusal instanceof BadInputError && refusal.code === "private_address", String(err));
    assert.equal(connections(), 0, "the listener saw no connection");
  });

  test("a name resolving to a refused address is refused at lookup, never connected to", async (t) => {
    const { port, connections } = await countingServer(t);
    const agent = createGuardedAgent({ allowPrivate: false, connectTimeoutMs: 2_000, headersTimeoutMs: 2_000, bodyTimeoutMs: 2_000 });
    t.after(() => agent.destroy());
    // "localhost" resolves through the system resolver to 127.0.0.1 and/or ::1
    const err = await request(`http://localhost:${port}/`, { dispatcher: agent }).catch((e: unknown) => e);
    const refusal = err instanceof BadInputError ? err : (err as { cause?: unknown }).cause;
    assert.ok(refusal instanceof BadInputError && refusal.code === "private_address", String(err));
    assert.equal(connections(), 0);
  });

  test("the same listener is reached when the policy lets 127.0.0.1 through", async (t) => {
    const { port, connections } = await countingServer(t);
    const agent = createGuardedAgent({
      allowPrivate: false,
      isBlocked: (a) => a !== "127.0.0.1" && isBlockedAddress(a),
      connectTimeoutMs: 2_000,
      headersTimeoutMs: 2_000,
      bodyTimeoutMs: 2_000,
    });
    t.after(() => agent.destroy());
    const res = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent });
    assert.equal(await res.body.text(), "ok");
    assert.equal(connections(), 1);
  });
});

/**
 * NATS_URL and PODFLEET_WORKER_NATS_URL as server lists (contract/nats-servers.ts): the orchestrator's
 * config and the worker's config split them the same way and name the bad entry without echoing
 * credentials; PODFLEET_NATS_REPLICAS is checked against what the NATS can hold.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { NatsServerListError, parseNatsServers } from "../contract/nats-servers.ts";
import { parseWorkerConfig } from "../machine-image/worker/worker-config.ts";
import { ConfigError, parseConfig } from "../orchestrator/config.ts";

test("a comma-separated list becomes the client's server array, entries trimmed", () => {
  assert.deepEqual(parseNatsServers("nats://h1:4222, nats://h2:4222 ,tls://[::1]:4223"), ["nats://h1:4222", "nats://h2:4222", "tls://[::1]:4223"]);
  assert.deepEqual(parseNatsServers("nats://one:4222"), ["nats://one:4222"]);
  const config = parseConfig({ NATS_URL: "nats://a:4222,nats://b:4222,nats://c:4222" });
  assert.deepEqual(config.nats.servers, ["nats://a:4222", "nats://b:4222", "nats://c:4222"]);
  assert.equal(config.nats.url, "nats://a:4222,nats://b:4222,nats://c:4222", "workers get the list as given");
  assert.deepEqual(parseConfig({}).nats.servers, [], "no NATS_URL: the embedded server");
});

test("a bad entry is named by position and value, credentials cut", () => {
  const cases: [string, RegExp][] = [
    ["nats://a:4222,,nats://b:4222", /entry 2 is empty/],
    ["nats://a:4222,", /entry 2 is empty/],
    ["nats://a:4222,http://b:4222", /entry 2 "http:\/\/b:4222" is not a NATS server URL/],
    ["nats://a:4222,nats://b:99999", /entry 2 "nats:\/\/b:99999" has port 99999/],
    ["nats://a:4222,nats://a:4222", /entry 2 "nats:\/\/a:4222" is listed twice/],
    ["nats://u:secret@a:4222,nats://u:secret@b c:4222", /entry 2 "nats:\/\/\*\*\*@b c:4222"/],
  ];
  for (const [value, message] of cases) {
    assert.throws(
      () => parseNatsServers(value),
      (err: unknown) => err instanceof NatsServerListError && message.test(err.message),
      value,
    );
    assert.throws(
      () => parseConfig({ NATS_URL: value }),
      (err: unknown) => err instanceof ConfigError && err.message.startsWith("invalid NATS_URL: ") && message.test(err.message),
      `NATS_URL=${value}`,
    );
    assert.throws(() => parseConfig({ NATS_URL: "nats://ok:4222", PODFLEET_WORKER_NATS_URL: value }), /invalid PODFLEET_WORKER_NATS_URL: entry 2/);
    assert.throws(
      () => parseWorkerConfig({ NATS_URL: value }),
      (err: unknown) => err instanceof Error && /NATS_URL/.test(err.message) && message.test(err.message),
    );
  }
  for (const value of ["nats://u:secret@a:4222,nats://u:secret@b c:4222"]) {
    assert.throws(
      () => parseConfig({ NATS_URL: value }),
      (err: unknown) => err instanceof Error && !err.message.includes("secret"),
    );
  }
});

test("PODFLEET_NATS_REPLICAS is 1 to 5, and more than 1 only with an external NATS", () => {
  assert.equal(parseConfig({ NATS_URL: "nats://a:4222", PODFLEET_NATS_REPLICAS: "3" }).nats.replicas, 3);
  assert.equal(parseConfig({ NATS_URL: "nats://a:4222" }).nats.replicas, undefined);
  assert.equal(parseConfig({ PODFLEET_NATS_REPLICAS: "1" }).nats.replicas, 1);
  assert.throws(() => parseConfig({ NATS_URL: "nats://a:4222", PODFLEET_NATS_REPLICAS: "6" }), /invalid PODFLEET_NATS_REPLICAS: must be 1 to 5/);
  assert.throws(() => parseConfig({ NATS_URL: "nats://a:4222", PODFLEET_NATS_REPLICAS: "0" }), /invalid PODFLEET_NATS_REPLICAS: must be 1 to 5/);
  assert.throws(() => parseConfig({ PODFLEET_NATS_REPLICAS: "3" }), /invalid PODFLEET_NATS_REPLICAS: the embedded nats-server is one node/);
});

/**
 * Settings that end up in Machines API requests stay inside what Fly accepts: the worker stop
 * timeout (a machine's stop_config.timeout is that + 5 s, at most 300 s on Fly) is refused at
 * startup with the variable's name, and a size preset is sent as `guest` (Fly deprecated `size`).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConfigError, parseConfig, STOP_TIMEOUT_MARGIN_SEC } from "../orchestrator/config.ts";
import { applyLimitsPatch, InvalidLimitsError, machineSizeConfig } from "../orchestrator/fleet/fleet-limits.ts";
import { defaultFleetLimits } from "../orchestrator/orchestrator.ts";
import { MAX_STOP_TIMEOUT_SEC } from "../orchestrator/fleet/machine.ts";

test("PODFLEET_WORKER_STOP_TIMEOUT_SEC above Fly's 300 s (with the 5 s margin) is refused by name", () => {
  const longest = MAX_STOP_TIMEOUT_SEC - STOP_TIMEOUT_MARGIN_SEC;
  assert.equal(parseConfig({ PODFLEET_WORKER_STOP_TIMEOUT_SEC: String(longest) }).fleet.stopTimeoutSec, 295);
  for (const value of [String(longest + 1), "900"]) {
    assert.throws(
      () => parseConfig({ PODFLEET_WORKER_STOP_TIMEOUT_SEC: value }),
      (e) => e instanceof ConfigError && /^invalid PODFLEET_WORKER_STOP_TIMEOUT_SEC: at most 295\b/.test(e.message),
    );
  }
});

test("a size preset is sent as guest, never as the deprecated config.size", () => {
  const config = parseConfig({ PODFLEET_WORKER_SIZE: "performance-2x" });
  const sent = machineSizeConfig(defaultFleetLimits(config).guest);
  assert.deepEqual(sent, { guest: { cpu_kind: "performance", cpus: 2, memory_mb: 4096 } });
  assert.equal("size" in sent, false);
  assert.deepEqual(machineSizeConfig({ size: "shared-cpu-1x" }), { guest: { cpu_kind: "shared", cpus: 1, memory_mb: 256 } });
  // A preset that would have nothing to turn into is refused where it is set.
  assert.throws(
    () => parseConfig({ PODFLEET_WORKER_SIZE: "a100-40gb" }),
    (e) => e instanceof ConfigError && /PODFLEET_WORKER_SIZE/.test(e.message),
  );
  const limits = defaultFleetLimits(config);
  assert.throws(
    () => applyLimitsPatch(limits, { guest: { size: "mega-9x" } }),
    (e) => e instanceof InvalidLimitsError && e.field === "guest.size",
  );
});

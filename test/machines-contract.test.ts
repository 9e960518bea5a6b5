// The Machines API behaviour podfleet relies on, as ONE suite run against every target:
// always the local runtime, and a real Fly app when FLY_API_TOKEN and
// PODFLEET_FLY_CONTRACT_APP are set (PODFLEET_FLY_CONTRACT_IMAGE, PODFLEET_FLY_CONTRACT_REGION
// and PODFLEET_FLY_API_URL are optional). If the local runtime passes and Fly fails a case,
// the local runtime is wrong: fix it, not the case.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import { inspect } from "node:util";
import type { Machine, MachineConfig, WaitableState } from "../orchestrator/fleet/machine.ts";
import { LocalMachinesRuntime } from "../orchestrator/fleet/local-runtime.ts";
import { sleeperEnv, sleeperLaunch, writeSleeperScript } from "./support/sleeper-machine.ts";
import { until } from "./support/until.ts";
import { setFaults, type CreateFailure } from "./support/runtime-faults.ts";
import { MachinesClient } from "../orchestrator/fleet/machines-client.ts";
import { CapacityError, PermanentError, RateLimitedError, WaitTimeoutError } from "../orchestrator/fleet/machines-errors.ts";

/** What a machine's process does: run for runMs (forever when absent), exit with exitCode. */
interface Behaviour {
  runMs?: number;
  exitCode?: number;
  ignoreSignals?: boolean;
}

interface ContractTarget {
  client: MachinesClient;
  token: string;
  /** A client for the same API and app that sends `token` instead (and retries that often, default the client's). */
  withToken(token: string, retries?: number): MachinesClient;
  /** POSTs `body` as is to the create route (bypassing the client's checks): status and ErrorResponse. */
  rawCreate(body: unknown): Promise<{ status: number; body: { error?: unknown; status?: unknown } }>;
  /** GETs `path` (after `/machines`) as is: the status. */
  rawGet(path: string): Promise<number>;
  /** Makes the next creates fail as listed; absent where the target cannot be made to (Fly). */
  injectCreateFailures?(failures: CreateFailure[]): void;
  /** A config whose process behaves as described, on this target's image. */
  config(behaviour: Behaviour): MachineConfig;
  /** Region to create machines in, when the target wants one. */
  region?: string;
  /** Resolves once a started machine's process is up (its signal handlers installed). */
  settled(machine: Machine): Promise<void>;
  /** Seconds a boot or stop may take on this target (≤ 60). */
  waitSec: number;
  /** Tears the target down, destroying any machine the suite left behind. */
  close(): Promise<void>;
}

type TargetFactory = (() => Promise<ContractTarget>) | { skip: string };

function machinesContract(name: string, makeTarget: TargetFactory): void {
  describe(`Machines API contract: ${name}`, () => {
    const run = { podfleet_contract: randomBytes(4).toString("hex") };
    let target: ContractTarget | undefined;
    before(async () => {
      if (typeof makeTarget === "function") target = await makeTarget();
    });
    after(async () => {
      const tg = target;
      if (!tg) return;
      const left = await tg.client.list({ metadata: run });
      await Promise.all(left.map((m) => tg.client.destroy(m.id, { force: true })));
      await tg.close();
    });

    const need = (t: TestContext): ContractTarget | undefined => {
      if (!target) t.skip(typeof makeTarget === "function" ? "target failed to start" : makeTarget.skip);
      return target;
    };
    const create = (tg: ContractTarget, behaviour: Behaviour, extra: Partial<MachineConfig> = {}, skipLaunch = false) => {
      const base = tg.config(behaviour);
      const config: MachineConfig = { ...base, ...extra, metadata: { ...run, ...extra.metadata } };
      return tg.client.create({ config, skip_launch: skipLaunch, ...(tg.region ? { region: tg.region } : {}) });
    };
    const waitFor = (tg: ContractTarget, m: Machine, state: WaitableState) => tg.client.wait(m.id, state, tg.waitSec, { instanceId: m.instance_id });

    // create answers at once with the new machine, which then starts by itself.
    it("create returns the machine and it reaches started", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const m = await create(tg, {});
      assert.match(m.id, /^[0-9a-z]+$/);
      assert.ok(["created", "starting", "started"].includes(m.state), `state ${m.state}`);
      await waitFor(tg, m, "started");
      assert.equal((await tg.client.get(m.id)).state, "started");
      await tg.client.destroy(m.id, { force: true });
    });

    // get returns the config as created: image, env and the metadata the autoscaler filters on.
    it("get returns config, env and metadata", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const m = await create(tg, { runMs: 1 }, { metadata: { role: "worker" } }, true);
      const got = await tg.client.get(m.id);
      assert.equal(got.id, m.id);
      assert.equal(got.config?.metadata?.role, "worker");
      assert.equal(got.config?.image, tg.config({}).image);
      await tg.client.destroy(m.id);
    });

    // skip_launch leaves the machine in created until start() is called.
    it("skip_launch rests in created; start starts it", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const m = await create(tg, {}, {}, true);
      assert.equal((await tg.client.get(m.id)).state, "created");
      await tg.client.start(m.id);
      await waitFor(tg, m, "started");
      await tg.client.destroy(m.id, { force: true });
    });

    // list with metadata.KEY=VALUE returns only machines matching every pair.
    it("list filters on metadata, all pairs must match", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const a = await create(tg, {}, { metadata: { role: "a", pool: "p1" } }, true);
      const b = await create(tg, {}, { metadata: { role: "b", pool: "p1" } }, true);
      const onlyA = await tg.client.list({ metadata: { ...run, role: "a", pool: "p1" } });
      assert.deepEqual(
        onlyA.map((m) => m.id),
        [a.id],
      );
      const both = await tg.client.list({ metadata: { ...run, pool: "p1" } });
      assert.deepEqual(both.map((m) => m.id).sort(), [a.id, b.id].sort());
      assert.deepEqual(await tg.client.list({ metadata: { ...run, role: "a", pool: "p2" } }), []);
      await Promise.all([tg.client.destroy(a.id), tg.client.destroy(b.id)]);
    });

    // list with state=a,b returns machines in any of those states.
    it("list filters on state", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const idle = await create(tg, {}, { metadata: { role: "state" } }, true);
      const busy = await create(tg, {}, { metadata: { role: "state" } });
      await waitFor(tg, busy, "started");
      const filter = { ...run, role: "state" };
      const started = await tg.client.list({ state: ["started"], metadata: filter });
      assert.deepEqual(
        started.map((m) => m.id),
        [busy.id],
      );
      const either = await tg.client.list({ state: ["created", "started"], metadata: filter });
      assert.equal(either.length, 2);
      await Promise.all([tg.client.destroy(idle.id), tg.client.destroy(busy.id, { force: true })]);
    });

    // With restart policy "no" an exiting process leaves the machine stopped, exit code recorded.
    it('restart "no": exit ends in stopped with the exit code in an exit event', async (t) => {
      const tg = need(t);
      if (!tg) return;
      const m = await create(tg, { runMs: 200, exitCode: 3 }, { restart: { policy: "no" } });
      await waitFor(tg, m, "stopped");
      const events = await tg.client.events(m.id);
      const exits = events.filter((e) => e.type === "exit");
      assert.equal(exits.length, 1, "never restarted");
      assert.equal(exits[0]?.request?.exit_event?.exit_code, 3);
      assert.equal(exits[0]?.request?.exit_event?.requested_stop, false);
      const stamps = events.map((e) => e.timestamp);
      assert.deepEqual(
        stamps,
        [...stamps].sort((x, y) => y - x),
        "events newest first",
      );
      assert.ok((stamps[0] ?? 0) > 1e12, "timestamps in milliseconds");
      await tg.client.destroy(m.id);
    });

    // auto_destroy: once the process exits the machine is destroyed; listings hide it unless
    // include_deleted, and get still answers for it.
    it("auto_destroy destroys the machine after its process exits", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const m = await create(tg, { runMs: 200 }, { auto_destroy: true, restart: { policy: "no" } });
      await waitFor(tg, m, "destroyed");
      assert.equal((await tg.client.get(m.id)).state, "destroyed");
      const live = await tg.client.list({ metadata: run });
      assert.ok(!live.some((x) => x.id === m.id), "hidden without include_deleted");
      const all = await tg.client.list({ metadata: run, includeDeleted: true });
      assert.ok(
        all.some((x) => x.id === m.id && x.state === "destroyed"),
        "shown with include_deleted",
      );
    });

    // stop sends the signal, then SIGKILL after timeout; the exit event says requested_stop.
    it("stop escalates to SIGKILL after the timeout", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const m = await create(tg, { ignoreSignals: true }, { restart: { policy: "no" } });
      await waitFor(tg, m, "started");
      await tg.settled(m);
      const began = performance.now();
      await tg.client.stop(m.id, { signal: "SIGTERM", timeout: 2 });
      await waitFor(tg, m, "stopped");
      assert.ok(performance.now() - began >= 1_800, "the ignored SIGTERM did not stop it; SIGKILL did");
      const exit = (await tg.client.events(m.id)).find((e) => e.type === "exit");
      assert.equal(exit?.request?.exit_event?.requested_stop, true);
      await tg.client.destroy(m.id);
    });

    // Deleting a running machine needs force=true; without it the API refuses (local: 412).
    it("destroy of a running machine needs force", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const m = await create(tg, {});
      await waitFor(tg, m, "started");
      await assert.rejects(tg.client.destroy(m.id), (e) => e instanceof PermanentError && e.status >= 400);
      assert.equal((await tg.client.get(m.id)).state, "started");
      await tg.client.destroy(m.id, { force: true });
      await waitFor(tg, m, "destroyed");
    });

    // wait answers 408 when the state is not reached in time; the client throws WaitTimeoutError.
    it("wait times out with 408", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const m = await create(tg, {}, {}, true);
      await assert.rejects(tg.client.wait(m.id, "started", 1), WaitTimeoutError);
      await tg.client.destroy(m.id);
    });

    // A wrong token gets 401, and the error never repeats either token.
    it("a bad token gets 401 without leaking the token", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const bad = `bad-${randomBytes(8).toString("hex")}`;
      await assert.rejects(tg.withToken(bad).list(), (e) => {
        assert.ok(e instanceof PermanentError);
        assert.equal(e.status, 401);
        const text = `${String(e)} ${e.stack ?? ""} ${inspect(e.cause)}`;
        assert.ok(!text.includes(bad) && !text.includes(tg.token));
        return true;
      });
    });

    // An unknown machine id is a 404, not retried.
    it("get of an unknown machine is 404", async (t) => {
      const tg = need(t);
      if (!tg) return;
      await assert.rejects(tg.client.get("0000000000dead"), (e) => e instanceof PermanentError && e.status === 404);
    });

    // Fly decodes the body into typed structs: a wrongly typed field is a 400 ErrorResponse.
    it("a create body with wrongly typed fields is refused with 400", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const base = { ...tg.config({ runMs: 1 }), metadata: run };
      const bad: Array<[string, unknown]> = [
        ["guest.memory_mb as a string", { ...base, guest: { cpu_kind: "shared", cpus: 1, memory_mb: "2048" } }],
        ["guest.cpus as a fraction", { ...base, guest: { cpu_kind: "shared", cpus: 1.5, memory_mb: 256 } }],
        ["an env value that is a number", { ...base, env: { ...base.env, PORT: 8080 } }],
        ["metadata that is not a string map", { ...base, metadata: { ...run, n: true } }],
        ["auto_destroy as a string", { ...base, auto_destroy: "yes" }],
        ["init.exec as a string", { ...base, init: { exec: "/bin/true" } }],
      ];
      for (const [what, config] of bad) {
        const reply = await tg.rawCreate({ config, skip_launch: true, ...(tg.region ? { region: tg.region } : {}) });
        assert.equal(reply.status, 400, `${what}: HTTP ${reply.status}`);
        assert.equal(typeof reply.body.error, "string", `${what}: an ErrorResponse`);
      }
      assert.deepEqual(await tg.client.list({ metadata: run, includeDeleted: true }).then((l) => l.filter((m) => m.state !== "destroyed")), []);
    });

    // Fly's kill timeout is at most 300 s: the client refuses more before sending, the API with 400.
    it("a stop timeout above 300 s is refused", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const config = { ...tg.config({ runMs: 1 }), metadata: run, stop_config: { signal: "SIGTERM", timeout: "905s" } };
      await assert.rejects(tg.client.create({ config, skip_launch: true }), RangeError);
      await assert.rejects(tg.client.stop("0000000000dead", { timeout: 301 }), RangeError);
      const reply = await tg.rawCreate({ config, skip_launch: true, ...(tg.region ? { region: tg.region } : {}) });
      assert.equal(reply.status, 400, `HTTP ${reply.status}`);
      const ok = await create(tg, { runMs: 1 }, { stop_config: { signal: "SIGTERM", timeout: "300s" } }, true);
      await tg.client.destroy(ok.id);
    });

    // Fly waits on one version of a machine: waiting for stopped without instance_id is a 400.
    it("wait for stopped needs instance_id", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const m = await create(tg, {}, {}, true);
      assert.equal(await tg.rawGet(`/${m.id}/wait?state=stopped&timeout=1`), 400);
      await assert.rejects(tg.client.wait(m.id, "stopped", 1), (e) => e instanceof PermanentError && e.status === 400);
      await tg.client.destroy(m.id);
    });

    // Reads of one machine are limited (Fly: 5/s, bursts of 10): past the burst the API answers
    // 429 with Retry-After, and a client that retries honours it and gets every answer.
    it("429 with Retry-After past the burst; the retrying client gets through", async (t) => {
      const tg = need(t);
      if (!tg) return;
      const m = await create(tg, {}, {}, true);
      const once = tg.withToken(tg.token, 0);
      const results = await Promise.allSettled(Array.from({ length: 16 }, () => once.get(m.id)));
      const limited = results.filter((r) => r.status === "rejected").map((r) => r.reason);
      assert.ok(limited.length > 0, "some of 16 reads at once were limited");
      for (const e of limited) {
        assert.ok(e instanceof RateLimitedError, String(e));
        assert.ok(e.retryAfterMs !== undefined && e.retryAfterMs >= 1000, `Retry-After ${e.retryAfterMs} ms`);
      }
      const patient = await Promise.all(Array.from({ length: 16 }, () => tg.client.get(m.id)));
      assert.equal(patient.filter((x) => x.id === m.id).length, 16);
      await tg.client.destroy(m.id);
    });

    // A capacity error is known by the ErrorResponse's status "insufficient_capacity", whatever
    // the HTTP status; the client surfaces it at once (the caller tries another region).
    it("capacity errors by status code, on any HTTP status", async (t) => {
      const tg = need(t);
      if (!tg) return;
      if (!tg.injectCreateFailures) return t.skip("this target cannot be made to run out of capacity");
      const statuses = [409, 412, 503, 429] as const;
      tg.injectCreateFailures(statuses.map((status) => ({ status, capacity: true, retryAfterSec: 0 })));
      for (const status of statuses) {
        await assert.rejects(create(tg, {}), (e) => e instanceof CapacityError && e.status === status && !e.retryable);
      }
      tg.injectCreateFailures([{ status: 503 }]);
      const m = await create(tg, {}, {}, true); // a 503 without the status is a server error: retried
      await tg.client.destroy(m.id);
    });
  });
}

machinesContract("local runtime", async () => {
  const dir = mkdtempSync(join(tmpdir(), "podfleet-contract-"));
  const app = "podfleet-contract";
  const logDir = join(dir, "logs");
  const runtime = new LocalMachinesRuntime({ app, launch: sleeperLaunch(writeSleeperScript(dir)), logDir, closeGraceMs: 500 });
  const { url, token } = await runtime.start();
  const withToken = (tok: string, retries?: number) =>
    new MachinesClient({ baseUrl: url, app, token: tok, minTimeoutMs: 10, ...(retries === undefined ? {} : { retries }) });
  return {
    client: withToken(token),
    token,
    withToken,
    ...rawAccess(url, app, token),
    injectCreateFailures: (createFailures) => setFaults(runtime, { createFailures }),
    config: (b) => ({ image: "podfleet/contract-sleeper:local", env: sleeperEnv(b) }),
    settled: (m) => logLine(join(logDir, `${m.id}.log`), /^READY$/m),
    waitSec: 10,
    close: async () => {
      await runtime.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

const flyToken = process.env.FLY_API_TOKEN;
const flyApp = process.env.PODFLEET_FLY_CONTRACT_APP;
machinesContract(
  "Fly",
  flyToken && flyApp
    ? () => {
        const baseUrl = process.env.PODFLEET_FLY_API_URL ?? "https://api.machines.dev/v1";
        const image = process.env.PODFLEET_FLY_CONTRACT_IMAGE ?? "busybox:1.36";
        const region = process.env.PODFLEET_FLY_CONTRACT_REGION;
        const withToken = (tok: string, retries = 2) => new MachinesClient({ baseUrl, app: flyApp, token: tok, retries });
        return Promise.resolve<ContractTarget>({
          client: withToken(flyToken),
          token: flyToken,
          withToken,
          ...rawAccess(baseUrl, flyApp, flyToken),
          config: (b) => ({
            image,
            env: sleeperEnv(b),
            guest: { cpu_kind: "shared", cpus: 1, memory_mb: 256 },
            init: { exec: ["/bin/sh", "-c", shellFor(b)] },
          }),
          region,
          // No log access here: give the image a moment to run its trap line.
          settled: () => new Promise((resolve) => setTimeout(resolve, 3_000)),
          waitSec: 60,
          close: async () => {},
        });
      }
    : { skip: "set FLY_API_TOKEN and PODFLEET_FLY_CONTRACT_APP to run against Fly" },
);

/** Requests that bypass the client, to see what the API itself answers. */
function rawAccess(baseUrl: string, app: string, token: string): Pick<ContractTarget, "rawCreate" | "rawGet"> {
  const base = `${baseUrl.replace(/\/+$/, "")}/apps/${encodeURIComponent(app)}/machines`;
  const authorization = token.startsWith("FlyV1 ") ? token : `Bearer ${token}`;
  return {
    rawCreate: async (body) => {
      let res: Response;
      // Creates are rate-limited (about 1/s, bursts of 3): wait out a 429 as Fly asks.
      for (;;) {
        res = await fetch(base, { method: "POST", headers: { authorization, "content-type": "application/json" }, body: JSON.stringify(body) });
        if (res.status !== 429) break;
        await res.arrayBuffer();
        await new Promise((resolve) => setTimeout(resolve, 1000 * Number(res.headers.get("retry-after") ?? 1)));
      }
      const text = await res.text();
      let parsed: { error?: unknown; status?: unknown } = {};
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        // not JSON: leave it empty, the case's assertion names the status
      }
      return { status: res.status, body: parsed };
    },
    rawGet: async (path) => {
      const res = await fetch(`${base}${path}`, { headers: { authorization } });
      await res.arrayBuffer();
      return res.status;
    },
  };
}

/** The sleeper's behaviour as a POSIX shell line, for a real image. */
function shellFor(b: Behaviour): string {
  const trap = b.ignoreSignals ? 'trap "" INT TERM; ' : "";
  const body = b.runMs === undefined ? "while true; do sleep 1; done" : `sleep ${Math.max(1, Math.ceil(b.runMs / 1000))}`;
  return `${trap}${body}; exit ${b.exitCode ?? 0}`;
}

/** Waits until a local machine's log shows `pattern`: the sleeper prints READY once its handlers are set. */
async function logLine(path: string, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  await until(`${pattern} in ${path}`, () => (existsSync(path) && pattern.test(readFileSync(path, "utf8")) ? true : undefined), timeoutMs, 20);
}

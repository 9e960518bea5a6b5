// LocalMachinesRuntime through MachinesClient over real HTTP on 127.0.0.1, with real child
// processes (the sleeper script). Behaviour shared with Fly is in machines-contract.test.ts;
// this file covers the runtime's own duties: processes, logs, env, events, close, faults.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Machine, MachineConfig, MachineState } from "../orchestrator/fleet/machine.ts";
import { killLeftoverMachines, LocalMachinesRuntime, type LocalMachinesRuntimeOptions } from "../orchestrator/fleet/local-runtime.ts";
import { sleeperEnv, sleeperLaunch, writeSleeperScript } from "./support/sleeper-machine.ts";
import { until } from "./support/until.ts";
import { setFaults } from "./support/runtime-faults.ts";
import { MachinesClient } from "../orchestrator/fleet/machines-client.ts";
import { CapacityError, PermanentError, WaitTimeoutError } from "../orchestrator/fleet/machines-errors.ts";

const APP = "podfleet-local";
const execFileAsync = promisify(execFile);

interface Harness {
  runtime: LocalMachinesRuntime;
  client: MachinesClient;
  url: string;
  token: string;
  dir: string;
}

async function harness(t: TestContext, options: Partial<LocalMachinesRuntimeOptions> = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), "podfleet-local-runtime-"));
  const runtime = new LocalMachinesRuntime({
    app: APP,
    launch: sleeperLaunch(writeSleeperScript(dir)),
    logDir: join(dir, "logs"),
    closeGraceMs: 500,
    ...options,
  });
  const { url, token } = await runtime.start();
  t.after(async () => {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const client = new MachinesClient({ baseUrl: url, app: APP, token, minTimeoutMs: 10 });
  return { runtime, client, url, token, dir };
}

function config(behaviour: Parameters<typeof sleeperEnv>[0], extra: Partial<MachineConfig> = {}): MachineConfig {
  return { image: "podfleet/sleeper:test", env: sleeperEnv(behaviour), restart: { policy: "no" }, ...extra };
}

/**
 * Resolves with the first machine the runtime reports in `state`. Call it BEFORE the request
 * that leads there: the runtime may get there before the HTTP reply is read.
 */
function nextState(runtime: LocalMachinesRuntime, state: MachineState): Promise<Machine> {
  return new Promise((resolve) => {
    const onState = (m: Machine): void => {
      if (m.state === state) {
        runtime.off("state", onState);
        resolve(m);
      }
    };
    runtime.on("state", onState);
  });
}

/** Waits until the machine's log shows `pattern` (the child has no other way to say it is ready). */
async function logLine(path: string, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  await until(`${pattern} in ${path}`, () => (existsSync(path) && pattern.test(readFileSync(path, "utf8")) ? true : undefined), timeoutMs, 20);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("LocalMachinesRuntime", () => {
  it("runs a started machine as a child process with Fly env and a log file", async (t) => {
    const { client, dir } = await harness(t);
    const created = await client.create({ config: config({ runMs: 1_500 }) });
    assert.equal(created.state, "created");
    await client.wait(created.id, "started", 10);
    const machine = await client.get(created.id);
    assert.equal(machine.state, "started");
    assert.equal(typeof machine.pid, "number");
    assert.ok(alive(machine.pid ?? -1));
    await client.wait(created.id, "stopped", 10, { instanceId: created.instance_id });
    assert.equal((await client.get(created.id)).pid, undefined);
    assert.equal(alive(machine.pid ?? -1), false);
    const log = readFileSync(join(dir, "logs", `${created.id}.log`), "utf8");
    assert.match(log, new RegExp(`^FLY_MACHINE_ID=${created.id}$`, "m"));
    assert.match(log, new RegExp(`^FLY_APP_NAME=${APP}$`, "m"));
    assert.match(log, /^FLY_REGION=local$/m);
    assert.match(log, /^FLY_IMAGE_REF=podfleet\/sleeper:test$/m);
  });

  it("emits every state change and snapshot() agrees with the API", async (t) => {
    const { runtime, client } = await harness(t);
    const seen: string[] = [];
    runtime.on("state", (m) => seen.push(m.state));
    const stopped = nextState(runtime, "stopped");
    const created = await client.create({ config: config({ runMs: 50 }) });
    await stopped;
    assert.deepEqual(seen, ["creating", "created", "starting", "started", "stopping", "stopped"]);
    const [snap] = runtime.snapshot();
    assert.equal(snap?.id, created.id);
    assert.equal(snap?.state, (await client.get(created.id)).state);
  });

  it("lets a test check that no more than N machines were live at once", async (t) => {
    const { runtime, client } = await harness(t);
    const live = new Set<string>();
    let peak = 0;
    runtime.on("state", (m) => {
      if (m.state === "started") live.add(m.id);
      else live.delete(m.id);
      peak = Math.max(peak, live.size);
    });
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const m = await client.create({ config: config({ runMs: 100 }, { auto_destroy: true }) });
      ids.push(m.id);
      await client.wait(m.id, "destroyed", 10);
    }
    assert.equal(peak, 1);
    assert.equal(runtime.snapshot().filter((m) => m.state === "destroyed").length, 3);
  });

  it("restarts on-failure up to max_retries and then stays stopped", async (t) => {
    const { runtime, client } = await harness(t);
    const stopped = nextState(runtime, "stopped");
    const created = await client.create({
      config: config({ runMs: 20, exitCode: 7 }, { restart: { policy: "on-failure", max_retries: 2 } }),
    });
    assert.equal((await stopped).id, created.id);
    const events = await client.events(created.id);
    const exits = events.filter((e) => e.type === "exit");
    assert.equal(exits.length, 3, "first run + 2 restarts");
    assert.ok(exits.every((e) => e.request?.exit_event?.exit_code === 7));
    assert.equal(events.filter((e) => e.type === "restart").length, 2);
  });

  it("does not restart a clean exit under on-failure, but does under always", async (t) => {
    const { runtime, client } = await harness(t);
    let stopped = nextState(runtime, "stopped");
    const clean = await client.create({ config: config({ runMs: 20 }, { restart: { policy: "on-failure" } }) });
    assert.equal((await stopped).id, clean.id);
    assert.equal((await client.events(clean.id)).filter((e) => e.type === "exit").length, 1);
    stopped = nextState(runtime, "stopped");
    const always = await client.create({
      config: config({ runMs: 20 }, { restart: { policy: "always", max_retries: 1 } }),
    });
    assert.equal((await stopped).id, always.id);
    assert.equal((await client.events(always.id)).filter((e) => e.type === "exit").length, 2);
  });

  it("SIGKILLs children that ignore SIGTERM on close", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "podfleet-local-runtime-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const runtime = new LocalMachinesRuntime({
      app: APP,
      launch: sleeperLaunch(writeSleeperScript(dir)),
      logDir: dir,
      closeGraceMs: 300,
    });
    const { url, token } = await runtime.start();
    const client = new MachinesClient({ baseUrl: url, app: APP, token });
    const m = await client.create({ config: config({ ignoreSignals: true }) });
    await client.wait(m.id, "started", 10);
    await logLine(join(dir, `${m.id}.log`), /^READY$/m);
    const pid = (await client.get(m.id)).pid ?? -1;
    const began = performance.now();
    await runtime.close();
    assert.equal(alive(pid), false);
    assert.ok(performance.now() - began >= 250, "waited the grace before SIGKILL");
    assert.equal(runtime.snapshot()[0]?.state, "stopped");
  });

  it("SIGKILLs children when the parent process exits without close()", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "podfleet-local-runtime-"));
    let pid = -1;
    t.after(() => {
      if (pid > 0 && alive(pid)) process.kill(pid, "SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    });
    const script = join(dir, "parent.mts");
    const runtimeUrl = new URL("../orchestrator/fleet/local-runtime.ts", import.meta.url).href;
    const sleeperUrl = new URL("./support/sleeper-machine.ts", import.meta.url).href;
    writeFileSync(
      script,
      `import { LocalMachinesRuntime } from ${JSON.stringify(runtimeUrl)};
import { sleeperLaunch, writeSleeperScript } from ${JSON.stringify(sleeperUrl)};
const runtime = new LocalMachinesRuntime({ app: 'a', launch: sleeperLaunch(writeSleeperScript(${JSON.stringify(dir)})) });
runtime.on('state', (m) => { if (m.state === 'started') { console.log(m.pid); process.exit(0); } });
const { url, token } = await runtime.start();
await fetch(url + '/apps/a/machines', { method: 'POST', headers: { authorization: 'Bearer ' + token },
  body: JSON.stringify({ config: { image: 'i', env: { IGNORE_SIGNALS: '1' } } }) });
`,
    );
    const { stdout } = await execFileAsync(process.execPath, ["--import", "tsx", script], {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
      timeout: 30_000,
    });
    pid = Number(stdout.trim());
    assert.ok(pid > 0, `parent printed the machine pid (${stdout})`);
    // reaping by init takes a moment; a timeout here means the machine process outlived its parent
    await until("the machine process to end with its parent", () => (alive(pid) ? undefined : true), 5_000, 20);
  });

  it("marks a machine failed when its command cannot be spawned", async (t) => {
    const { client, runtime } = await harness(t, {
      launch: () => ({ command: "/nonexistent/podfleet-binary", args: [], env: {} }),
    });
    const failed = nextState(runtime, "failed");
    const m = await client.create({ config: config({}) });
    assert.equal((await failed).id, m.id);
    await client.destroy(m.id);
    assert.equal((await client.get(m.id)).state, "destroyed");
  });

  it("force delete kills the running process and ends in destroyed", async (t) => {
    const { runtime, client } = await harness(t);
    const running = nextState(runtime, "started");
    const m = await client.create({ config: config({ ignoreSignals: true }) });
    const started = await running;
    assert.equal(started.id, m.id);
    await client.destroy(m.id, { force: true });
    await client.wait(m.id, "destroyed", 10);
    assert.equal(alive(started.pid ?? -1), false);
    const exit = (await client.events(m.id)).find((e) => e.type === "exit");
    assert.equal(exit?.request?.exit_event?.requested_stop, true);
  });

  it("carries its owner in every machine's env: killLeftoverMachines kills that owner's machines, and only those", async (t) => {
    // `dead` plays a runtime whose owner was SIGKILLed: it is never closed before the next owner cleans up
    const owner = mkdtempSync(join(tmpdir(), "podfleet-owner-"));
    t.after(() => rmSync(owner, { recursive: true, force: true }));
    const dead = await harness(t, { owner });
    const neighbour = await harness(t, { owner: `${owner}-other` });
    const unowned = await harness(t);
    const started = async (h: Harness): Promise<number> => {
      const m = await h.client.create({ config: config({ ignoreSignals: true }) });
      await h.client.wait(m.id, "started", 10);
      return (await h.client.get(m.id)).pid ?? -1;
    };
    const [leftover, other, plain] = [await started(dead), await started(neighbour), await started(unowned)];
    assert.ok(alive(leftover) && alive(other) && alive(plain));

    const exited = nextState(dead.runtime, "stopped");
    assert.deepEqual(await killLeftoverMachines(owner), [leftover]);
    await exited; // reaped: it was this test process's child
    assert.equal(alive(leftover), false, "the leftover machine process is gone");
    assert.ok(alive(other), "another owner's machine runs on");
    assert.ok(alive(plain), "a machine of a runtime without owner runs on");
  });

  it("answers 401 with a Fly error body without or with a wrong Authorization header", async (t) => {
    const { url, token } = await harness(t);
    const none = await fetch(`${url}/apps/${APP}/machines`);
    assert.equal(none.status, 401);
    assert.deepEqual(await none.json(), { error: "unauthorized" });
    const wrong = await fetch(`${url}/apps/${APP}/machines`, { headers: { authorization: `Bearer ${token}x` } });
    assert.equal(wrong.status, 401);
    const right = await fetch(`${url}/apps/${APP}/machines`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(right.status, 200);
    assert.deepEqual(await right.json(), []);
  });

  it("accepts a caller-chosen FlyV1 token sent verbatim", async (t) => {
    const { client, url } = await harness(t, { token: "FlyV1 fm2_local" });
    assert.deepEqual(await client.list(), []);
    const bearer = await fetch(`${url}/apps/${APP}/machines`, { headers: { authorization: "Bearer FlyV1 fm2_local" } });
    assert.equal(bearer.status, 401);
  });

  it("answers 404 for another app and for unknown machines", async (t) => {
    const { url, token, client } = await harness(t);
    const other = new MachinesClient({ baseUrl: url, app: "someone-else", token, retries: 0 });
    await assert.rejects(other.list(), (e) => e instanceof PermanentError && e.status === 404);
    await assert.rejects(client.get("nope"), (e) => e instanceof PermanentError && e.status === 404);
  });

  it("refuses a stop request's timeout above 300 s (and numbers are nanoseconds, as Fly reads them)", async (t) => {
    // Five stops of one machine in a row: past Fly's burst of 3, so without the rate limits here.
    const { url, token, client } = await harness(t, { rateLimits: false });
    const m = await client.create({ config: config({}) });
    await client.wait(m.id, "started", 10);
    const stop = (body: unknown) =>
      fetch(`${url}/apps/${APP}/machines/${m.id}/stop`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    for (const timeout of ["301s", "5m1s", 301e9, "soon"]) {
      const res = await stop({ timeout });
      assert.equal(res.status, 400, `timeout ${JSON.stringify(timeout)}`);
      assert.match(((await res.json()) as { error: string }).error, /invalid timeout/);
    }
    assert.equal((await client.get(m.id)).state, "started", "refused stops did nothing");
    const ok = await stop({ timeout: 1e9 }); // one second in nanoseconds
    assert.equal(ok.status, 200);
    await client.wait(m.id, "stopped", 10, { instanceId: m.instance_id });
  });

  it("rate-limits per action and machine when asked to, and not at all with rateLimits: false", async (t) => {
    const limited = await harness(t, { rateLimits: { perSec: 1, burst: 2, getPerSec: 1, getBurst: 2 } });
    const once = new MachinesClient({ baseUrl: limited.url, app: APP, token: limited.token, retries: 0 });
    const m = await limited.client.create({ config: config({}), skip_launch: true });
    const reads = await Promise.allSettled([once.get(m.id), once.get(m.id), once.get(m.id)]);
    assert.deepEqual(
      reads.map((r) => r.status),
      ["fulfilled", "fulfilled", "rejected"],
    );
    assert.equal(limited.runtime.rateLimitedCount, 1);
    // Another machine has its own bucket.
    const n = await limited.client.create({ config: config({}), skip_launch: true });
    await once.get(n.id);

    const open = await harness(t, { rateLimits: false });
    const free = new MachinesClient({ baseUrl: open.url, app: APP, token: open.token, retries: 0 });
    const x = await free.create({ config: config({}), skip_launch: true });
    await Promise.all(Array.from({ length: 20 }, () => free.get(x.id)));
    assert.equal(open.runtime.rateLimitedCount, 0);
  });
});

describe("LocalMachinesRuntime faults", () => {
  it("answers queued create failures in order; the client retries 429/503 and surfaces 412", async (t) => {
    const { runtime, client } = await harness(t);
    setFaults(runtime, { createFailures: [{ status: 429, retryAfterSec: 0 }, { status: 503 }, { status: 412 }] });
    // One create: 429 and 503 are retried, the 412 capacity error surfaces without a retry.
    await assert.rejects(client.create({ config: config({}) }), CapacityError);
    assert.equal(runtime.snapshot().length, 0, "failed creates made no machine");
    const next = await client.create({ config: config({ runMs: 10 }) });
    assert.equal(runtime.snapshot().length, 1, "the queue is used up");
    assert.equal(next.state, "created");
  });

  it("answers 429 with Retry-After that the client honours", async (t) => {
    const { runtime, client } = await harness(t);
    setFaults(runtime, { createFailures: [{ status: 429, retryAfterSec: 1 }] });
    const began = performance.now();
    await client.create({ config: config({ runMs: 10 }) });
    assert.ok(performance.now() - began >= 950);
  });

  it("keeps machines in starting when stuckInStarting, and stop still works", async (t) => {
    const { runtime, client } = await harness(t);
    setFaults(runtime, { stuckInStarting: true });
    const m = await client.create({ config: config({}) });
    await assert.rejects(client.wait(m.id, "started", 1), WaitTimeoutError);
    assert.equal((await client.get(m.id)).state, "starting");
    await client.stop(m.id);
    assert.equal((await client.get(m.id)).state, "stopped");
    setFaults(runtime, {});
    await client.start(m.id);
    await client.wait(m.id, "started", 10);
  });

  it("delays boot by bootDelayMs and start by startDelayMs", async (t) => {
    const { runtime, client } = await harness(t);
    setFaults(runtime, { bootDelayMs: 400, startDelayMs: 300 });
    let began = performance.now();
    const m = await client.create({ config: config({}) });
    await client.wait(m.id, "started", 10);
    assert.ok(performance.now() - began >= 380, "boot delay applied");
    await client.stop(m.id, { timeout: 1 });
    await client.wait(m.id, "stopped", 10, { instanceId: m.instance_id });
    began = performance.now();
    await client.start(m.id);
    assert.equal((await client.get(m.id)).state, "starting");
    await client.wait(m.id, "started", 10);
    assert.ok(performance.now() - began >= 280, "start delay applied");
  });
});

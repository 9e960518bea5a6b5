/**
 * `npm run cluster:local` (scripts/local-cluster.ts), briefly and for real: it starts a 3-node NATS
 * cluster, sqld, the Machines API and two orchestrators; both answer /healthz and, sharing one
 * database, report the same fleet; on SIGINT (Ctrl-C) it exits 0 and leaves no process and no
 * directory behind.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import readline from "node:readline";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { killAllUsing, processesUsing } from "./support/up-process.ts";
import { until } from "./support/until.ts";

const SCRIPT = fileURLToPath(new URL("../scripts/local-cluster.ts", import.meta.url));

interface ClusterInfo {
  dir: string;
  natsUrls: string[];
  databaseUrl: string;
  machinesUrl: string;
  orchestrators: string[];
  adminTokenFile: string;
}

test("cluster:local starts everything, both orchestrators answer and share one fleet, Ctrl-C stops it all", async (t) => {
  const parent = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-localcluster-"));
  const dir = path.join(parent, "cluster");
  const child = spawn(process.execPath, ["--import", "tsx", SCRIPT, "--json", `--dir=${dir}`], {
    env: { ...process.env, PODFLEET_ENGINE: "synthetic", PODFLEET_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
    killAllUsing(dir); // only after a failure: the script's children outlive a SIGKILLed script
    fs.rmSync(parent, { recursive: true, force: true });
  });

  const line = await Promise.race([
    readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]().next(),
    exited.then((code) => {
      throw new Error(`cluster:local exited ${code} before it was ready:\n${stderr}`);
    }),
  ]);
  assert.ok(!line.done, stderr);
  const info = JSON.parse(line.value) as ClusterInfo;
  assert.equal(info.dir, dir);
  assert.equal(info.natsUrls.length, 3);
  assert.equal(info.orchestrators.length, 2);
  await until("the summary on stderr", () => (stderr.includes("Ctrl-C stops everything") ? true : undefined), 10_000);
  assert.match(stderr, /orchestrator a {3}http:\/\/127\.0\.0\.1:\d+/);

  const token = fs.readFileSync(info.adminTokenFile, "utf8").trim();
  const fleetIds = [];
  for (const url of info.orchestrators) {
    assert.equal((await fetch(`${url}/healthz`)).status, 200, url);
    const res = await fetch(`${url}/v1/fleet`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, url);
    fleetIds.push(((await res.json()) as { fleetId: string }).fleetId);
  }
  assert.equal(fleetIds[0], fleetIds[1], "both orchestrators run the one fleet of the shared database");
  assert.ok(processesUsing(dir).length >= 7, "3 NATS nodes, sqld, the Machines API and 2 orchestrators run");

  child.kill("SIGINT");
  assert.equal(await exited, 0, stderr);
  assert.match(stderr, /cluster:local: stopping/);
  await until("no process using the cluster directory", () => (processesUsing(dir).length === 0 ? true : undefined), 10_000);
  assert.equal(fs.existsSync(dir), false, "the cluster directory is removed");
});

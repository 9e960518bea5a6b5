/**
 * The dashboard across an orchestrator restart, in headless Chromium: an open page shows that it
 * lost its live stream, reconnects by itself when the orchestrator is back on the same address
 * (the session survives: it is in libSQL), and shows changes made after the restart, all without
 * a reload. No machines are needed (PODFLEET_MAX_MACHINES=0).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import test from "node:test";
import { parseConfig } from "../orchestrator/config.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../orchestrator/orchestrator.ts";
import { chromiumPath, openBrowser } from "./support/browser.ts";
import { serveRangeFiles } from "./support/range-file-server.ts";
import { speechEpisode } from "./support/fleet-stack.ts";

const chromium = chromiumPath();

declare const window: { podfleetLive: { connected: number }; noReloadMark?: boolean };

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

test(
  "an open dashboard page reconnects by itself after the orchestrator restarts",
  { skip: chromium ? false : "chromium is not installed (/usr/bin/chromium, or set PODFLEET_CHROMIUM); scripts/setup.sh installs it" },
  async (t) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-ui-restart-"));
    const port = await freePort();
    const config = parseConfig(
      { PODFLEET_LOG_LEVEL: "silent", PODFLEET_MAX_MACHINES: "0", PODFLEET_ALLOW_PRIVATE_URLS: "1" },
      { dataDir, port, host: "127.0.0.1" },
    );
    let orch: Orchestrator | undefined = await startOrchestrator(config, createLogger("silent"));
    t.after(async () => {
      await orch?.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    });
    const files = await serveRangeFiles(t, { "/a.wav": { path: await speechEpisode(dataDir, 1), contentType: "audio/wav" } });
    const b = await openBrowser(t, chromium!, orch.url);
    const { page } = b;
    const token = orch.adminToken;

    await page.goto("/ui/login");
    await page.getByLabel("Admin token").fill(token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForURL((u) => u.pathname === "/");
    await page.locator('#live-status[data-state="live"]').waitFor();
    await page.evaluate(() => (window.noReloadMark = true));

    await orch.close();
    orch = undefined;
    await page.locator('#live-status[data-state="reconnecting"]').waitFor();

    orch = await startOrchestrator(config, createLogger("silent"));
    await page.locator('#live-status[data-state="live"]').waitFor({ timeout: 60_000 });
    assert.ok((await page.evaluate(() => window.podfleetLive.connected)) >= 2, "the page connected again");

    // a change after the restart reaches the page through the new stream
    const res = await fetch(`${orch.url}/v1/episodes`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ audioUrl: `${files.url}/a.wav`, title: "After the restart" }),
    });
    assert.equal(res.status, 202);
    await page.getByRole("link", { name: "After the restart", exact: true }).waitFor();
    assert.equal(await page.evaluate(() => window.noReloadMark), true, "the page was never reloaded");
    // while the orchestrator was down the browser logged refused connections; no script failed
    assert.deepEqual(
      b.errors.filter((e) => e.startsWith("page error")),
      [],
    );
  },
);

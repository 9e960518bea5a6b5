/**
 * Debian's headless Chromium driven by playwright-core, for the dashboard tests: a browser that
 * closes itself when the test ends, every console error and page error collected (a test asserts
 * there were none), a folder for screenshots a person can open, and each page's weight as the
 * browser measured it (bytes transferred, cache disabled).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { CleanupContext } from "./cleanup.ts";

/** Chromium's path: PODFLEET_CHROMIUM, else Debian's /usr/bin/chromium. */
export function chromiumPath(): string | undefined {
  const candidates = [process.env.PODFLEET_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"].filter((p): p is string => !!p);
  return candidates.find((p) => fs.existsSync(p));
}

export interface BrowserSession {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** "console error: …" and "page error: …" lines, in order. */
  errors: string[];
  screenshotDir: string;
  screenshot(name: string): Promise<string>;
}

export async function openBrowser(t: CleanupContext, executablePath: string, baseURL: string): Promise<BrowserSession> {
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    // root in a container has no user namespace sandbox; the player may start without a click
    args: ["--no-sandbox", "--autoplay-policy=no-user-gesture-required", "--mute-audio"],
  });
  t.after(() => browser.close());
  const context = await browser.newContext({ baseURL, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  const watch = (p: Page) => {
    p.on("console", (m) => {
      if (m.type() === "error") errors.push(`console error: ${m.text()} (${m.location().url})`);
    });
    p.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  };
  watch(page);
  context.on("page", watch);
  const screenshotDir = process.env.PODFLEET_SCREENSHOT_DIR ?? path.join(os.tmpdir(), "podfleet-screenshots");
  fs.mkdirSync(screenshotDir, { recursive: true });
  return {
    browser,
    context,
    page,
    errors,
    screenshotDir,
    async screenshot(name: string) {
      const file = path.join(screenshotDir, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
  };
}

export interface PageWeight {
  path: string;
  /** Bytes over the wire for the document and everything it loaded (headers included), cache off. */
  transferBytes: number;
  /** The HTML document alone. */
  documentBytes: number;
  requests: number;
}

/** Loads `url` with the cache disabled and sums what the browser transferred for it. */
export async function pageWeight(context: BrowserContext, url: string): Promise<PageWeight> {
  const page = await context.newPage();
  try {
    const cdp = await context.newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
    await page.goto(url, { waitUntil: "load" });
    const entries = await page.evaluate(() => {
      // runs in the page; the project's lib has no DOM types
      type Timing = { name: string; transferSize: number };
      const perf = performance as unknown as { getEntriesByType(type: string): Timing[] };
      const nav = perf.getEntriesByType("navigation")[0]!;
      const res = perf.getEntriesByType("resource");
      // the live event stream never finishes loading: it is not page weight
      const assets = res.filter((r) => !r.name.includes("/ui/events"));
      return { doc: nav.transferSize, assets: assets.map((r) => r.transferSize) };
    });
    return {
      path: new URL(url).pathname,
      documentBytes: entries.doc,
      transferBytes: entries.doc + entries.assets.reduce((a, b) => a + b, 0),
      requests: 1 + entries.assets.length,
    };
  } finally {
    await page.close();
  }
}

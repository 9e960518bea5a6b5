/**
 * Credentials in URLs (`user:pass@`) are refused with a clear 400 before anything is logged or
 * stored, whether they come in the audio URL, a callback URL, a feed URL, or a redirect's
 * Location; afterwards the password appears in no log line, no error message and no API view.
 * A real orchestrator (embedded NATS, libSQL file) and a real HTTP server on 127.0.0.1.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { parseConfig } from "../orchestrator/config.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator } from "../orchestrator/orchestrator.ts";
import { until } from "./support/until.ts";

const PASSWORD = "hunter2-Zq8xY7wV";

test("credentials in URLs are refused and never logged, stored or echoed", { timeout: 120_000 }, async (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "outbound-creds-"));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  execFileSync("ffmpeg", [
    "-loglevel",
    "error",
    "-f",
    "lavfi",
    "-i",
    "sine=frequency=440:duration=1",
    "-c:a",
    "libmp3lame",
    path.join(tmp, "tone.mp3"),
  ]);

  const seen: string[] = []; // request lines and authorization headers the server got
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ""}`);
    if (req.url === "/to-creds") return res.writeHead(302, { location: `http://alice:${PASSWORD}@127.0.0.1:${port()}/tone.mp3` }).end();
    if (req.url === "/tone.mp3") return res.writeHead(200, { "content-type": "audio/mpeg" }).end(fs.readFileSync(path.join(tmp, "tone.mp3")));
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = () => (server.address() as AddressInfo).port;
  const withCreds = `http://alice:${PASSWORD}@127.0.0.1:${port()}/tone.mp3`;

  const logLines: string[] = [];
  const log = createLogger("debug", {}, (line) => logLines.push(line));
  const config = parseConfig(
    { PODFLEET_MAX_MACHINES: "0", PODFLEET_ALLOW_PRIVATE_URLS: "1", PODFLEET_RATE_LIMIT_PER_MIN: "0", PODFLEET_NATS_PREFIX: "credsurl" },
    { dataDir: path.join(tmp, "data"), port: 0 },
  );
  const orch = await startOrchestrator(config, log);
  t.after(() => orch.close());
  const headers = { "content-type": "application/json", authorization: `Bearer ${orch.adminToken}` };
  const post = (p: string, body: unknown) => fetch(`${orch.url}${p}`, { method: "POST", headers, body: JSON.stringify(body) });
  const answers: string[] = [];

  for (const [what, p, body] of [
    ["audio URL", "/v1/episodes", { audioUrl: withCreds }],
    ["audio URL with a user name only", "/v1/episodes", { audioUrl: `http://${PASSWORD}@127.0.0.1:${port()}/tone.mp3` }],
    ["callback URL", "/v1/episodes", { audioUrl: `http://127.0.0.1:${port()}/tone.mp3`, callbackUrl: `https://bob:${PASSWORD}@example.com/hook` }],
    ["feed URL", "/v1/feeds", { url: `http://carol:${PASSWORD}@127.0.0.1:${port()}/feed.xml` }],
  ] as const) {
    const res = await post(p, body);
    const text = await res.text();
    answers.push(text);
    assert.equal(res.status, 400, `${what}: ${text}`);
    assert.equal((JSON.parse(text) as { error: { code: string } }).error.code, "credentials_in_url", what);
  }

  // A redirect to a URL with credentials fails the episode with the same reason.
  const res = await post("/v1/episodes", { audioUrl: `http://127.0.0.1:${port()}/to-creds` });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  const view = await until("the episode to fail", async () => {
    const v = (await (await fetch(`${orch.url}/v1/episodes/${id}`, { headers })).json()) as { status: string; error: string | null };
    return v.status === "failed" ? v : undefined;
  });
  assert.match(view.error ?? "", /user name or password/);

  const everything = [
    ...answers,
    JSON.stringify(view),
    await (await fetch(`${orch.url}/v1/episodes`, { headers })).text(),
    await (await fetch(`${orch.url}/v1/feeds`, { headers })).text(),
    ...logLines,
  ];
  assert.ok(logLines.length > 0, "the logger captured something");
  for (const line of everything) assert.ok(!line.includes(PASSWORD), `the password leaked: ${line.slice(0, 300)}`);
  assert.deepEqual(
    seen.filter((s) => s.includes("tone.mp3")),
    [],
    "the URL with credentials was never fetched",
  );
  assert.ok(
    seen.every((s) => s.split(" ")[2] === ""),
    `no Authorization header was ever sent: ${seen.join("; ")}`,
  );
});

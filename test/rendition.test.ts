/**
 * The rendition record and the chunk plan: after ingest, `GET /v1/episodes/:id` (and so
 * `podfleet jobs show ID --json`) says exactly which bytes were transcribed (final URL after
 * redirects, length, sha256, content type, duration) and where the audio was cut and why.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { test } from "node:test";
import { runCli } from "./support/cli.ts";
import { api, programmableServer, silentWav, startStack, waitFor } from "./support/ingest-stack.ts";

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

test("a fetched episode records its final URL, bytes, sha256, type and plan", async (t) => {
  const orch = await startStack(t);
  const audio = silentWav(3);
  const server = await programmableServer(t, (req, res) => {
    if (req.url === "/feed/ep.wav") res.writeHead(302, { location: "/cdn/ep-v2.wav?ad=7" }).end();
    else res.writeHead(200, { "content-type": "audio/wav; charset=binary" }).end(audio);
  });
  const sourceUrl = `${server.url}/feed/ep.wav`;
  const submitted = await api(orch.url, "POST", "/v1/episodes", { audioUrl: sourceUrl });
  assert.equal(submitted.status, 202);
  const id = submitted.body.id as string;

  const view = await waitFor("the plan", async () => {
    const v = (await api(orch.url, "GET", `/v1/episodes/${id}`)).body;
    return v.plan ? v : undefined;
  });
  assert.deepEqual(view.rendition, {
    sourceUrl,
    finalUrl: `${server.url}/cdn/ep-v2.wav?ad=7`,
    bytes: audio.length,
    sha256: sha256(audio),
    contentType: "audio/wav",
    durationSec: 3,
  });
  assert.deepEqual(view.plan, [{ index: 0, startSample: 0, endSample: 48_000, reason: "end of audio" }]);

  // The CLI shows the same record.
  const cli = await runCli(["jobs", "show", id, "--json"], { PODFLEET_URL: orch.url, PODFLEET_TOKEN: orch.adminToken }, 60_000);
  assert.equal(cli.code, 0, cli.stderr);
  const shown = JSON.parse(cli.stdout) as { rendition: unknown; plan: unknown };
  assert.deepEqual(shown.rendition, view.rendition);
  assert.deepEqual(shown.plan, view.plan);
});

test("an upload records its bytes and sha256, and a content type from its container", async (t) => {
  const orch = await startStack(t);
  const audio = silentWav(2);
  const res = await fetch(new URL("/v1/episodes", orch.url), {
    method: "POST",
    headers: { "content-type": "application/octet-stream", authorization: `Bearer ${orch.adminToken}` },
    body: audio,
  });
  assert.equal(res.status, 202);
  const { id } = (await res.json()) as { id: string };
  const view = await waitFor("the plan", async () => {
    const v = (await api(orch.url, "GET", `/v1/episodes/${id}`)).body;
    return v.plan ? v : undefined;
  });
  assert.deepEqual(view.rendition, {
    sourceUrl: null,
    finalUrl: null,
    bytes: audio.length,
    sha256: sha256(audio),
    contentType: "audio/wav",
    durationSec: 2,
  });
});

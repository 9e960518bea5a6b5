/**
 * `podfleet models pull`: downloads from a local HTTP server serving a generated ggml model, checks
 * what is verified (SHA-1, SHA-256 pin, or nothing), and that a corrupt, short, missing or foreign
 * download is refused with nothing left in the models directory.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { checkModelFile, checksumSidecar, type WhisperModelEntry } from "../machine-image/worker/whisper-model.ts";
import { ModelDownloadError, ModelRefusedError, pullModel } from "../orchestrator/models/model-download.ts";
import { runCli } from "./support/cli.ts";
import { writeRandomWhisperModel } from "./support/whisper-model-fixture.ts";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-models-"));
const fixturePath = path.join(root, "fixture.bin");
let fixture: Buffer;
let sha1 = "";
let sha256 = "";
let baseUrl = "";
const requests: string[] = [];
const server = http.createServer((req, res) => {
  const url = req.url ?? "";
  requests.push(url);
  const send = (body: Buffer) => res.writeHead(200, { "content-length": body.length }).end(body);
  if (url.startsWith("/m/ggml-")) {
    const name = url.slice("/m/ggml-".length).replace(/\.bin$/, "");
    if (["fixture", "tiny.en", "tiny-q5_1", "large-v3-turbo"].includes(name)) {
      // like Hugging Face's resolve URLs: a redirect to where the bytes are
      return res.writeHead(302, { location: "/blob/fixture" }).end();
    }
    if (name === "junk") return send(Buffer.from("<html>not a model</html>".repeat(10)));
    if (name === "flaky") return res.writeHead(503).end();
    if (name === "short") {
      res.writeHead(200, { "content-length": fixture.length });
      res.write(fixture.subarray(0, 100_000));
      setImmediate(() => res.destroy());
      return;
    }
  }
  if (url === "/blob/fixture") return send(fixture);
  res.writeHead(404).end("not found");
});

before(async () => {
  await writeRandomWhisperModel(fixturePath);
  fixture = fs.readFileSync(fixturePath);
  sha1 = createHash("sha1").update(fixture).digest("hex");
  sha256 = createHash("sha256").update(fixture).digest("hex");
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/m/`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(root, { recursive: true, force: true });
});

let dirs = 0;
const freshDir = () => path.join(root, `models-${++dirs}`);
const listDir = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
const entry = (file: string, sums: Partial<WhisperModelEntry> = {}): WhisperModelEntry => ({ file, approxMiB: 1, ...sums });

test("pulls through a redirect, verifies SHA-1, installs the file and its sidecar, then finds it present", async () => {
  const dir = freshDir();
  const catalog = new Map([["fixture", entry("ggml-fixture.bin", { sha1 })]]);
  const progress: Array<[number, number | undefined]> = [];
  const pulled = await pullModel({ name: "fixture", dir, baseUrl, catalog, onProgress: (got, total) => progress.push([got, total]) });
  assert.deepEqual(pulled.verified, ["sha1"]);
  assert.equal(pulled.alreadyPresent, false);
  assert.equal(pulled.bytes, fixture.length);
  assert.equal(pulled.sha256, sha256);
  assert.deepEqual(progress.at(-1), [fixture.length, fixture.length]);
  assert.deepEqual(listDir(dir), ["ggml-fixture.bin", "ggml-fixture.bin.sha256"]);
  assert.ok(fs.readFileSync(path.join(dir, "ggml-fixture.bin")).equals(fixture));
  assert.equal(fs.readFileSync(checksumSidecar(pulled.path), "utf8"), `${sha256}  ${fixture.length}\n`);
  await checkModelFile(pulled.path); // the worker's start-up check accepts it

  const before = requests.length;
  const again = await pullModel({ name: "fixture", dir, baseUrl, catalog });
  assert.equal(again.alreadyPresent, true);
  assert.deepEqual(again.verified, ["sha1"]);
  assert.equal(requests.length, before, "nothing downloaded for a verified file");

  fs.truncateSync(pulled.path, 1000); // damaged on disk: pulled again, not accepted
  const repaired = await pullModel({ name: "fixture", dir, baseUrl, catalog });
  assert.equal(repaired.alreadyPresent, false);
  assert.equal(fs.statSync(pulled.path).size, fixture.length);
});

test("a SHA-1 or SHA-256 mismatch is refused and nothing is installed", async () => {
  const dir = freshDir();
  const wrong = "0".repeat(40);
  await assert.rejects(
    pullModel({ name: "fixture", dir, baseUrl, catalog: new Map([["fixture", entry("ggml-fixture.bin", { sha1: wrong })]]) }),
    (err: unknown) => err instanceof ModelRefusedError && err.code === "bad_checksum" && /SHA-1/.test(err.message) && err.message.includes(sha1),
  );
  const catalog = new Map([["fixture", entry("ggml-fixture.bin", { sha1 })]]);
  await assert.rejects(
    pullModel({ name: "fixture", dir, baseUrl, catalog, sha256: "f".repeat(64) }),
    (err: unknown) => err instanceof ModelRefusedError && err.code === "bad_checksum" && /SHA-256/.test(err.message),
  );
  assert.deepEqual(listDir(dir), []);
  const ok = await pullModel({ name: "fixture", dir, baseUrl, catalog, sha256 });
  assert.deepEqual(ok.verified, ["sha256", "sha1"]);
  assert.equal(ok.sha256Source, "pin");
});

test("with no checksum known it installs after the header check and verifies nothing", async () => {
  const dir = freshDir();
  const pulled = await pullModel({ name: "nosum", dir, baseUrl, catalog: new Map([["nosum", entry("ggml-fixture.bin")]]) });
  assert.deepEqual(pulled.verified, []);
  assert.equal(pulled.sha256Source, undefined);
  const again = await pullModel({ name: "nosum", dir, baseUrl, catalog: new Map([["nosum", entry("ggml-fixture.bin")]]) });
  assert.equal(again.alreadyPresent, true, "matches the sha256 recorded at download");
  assert.deepEqual(again.verified, []);
});

test("a foreign, short, missing or failing download is refused and leaves no file", async () => {
  const dir = freshDir();
  const catalog = new Map([
    ["junk", entry("ggml-junk.bin")],
    ["short", entry("ggml-short.bin")],
    ["missing", entry("ggml-missing.bin")],
    ["flaky", entry("ggml-flaky.bin")],
  ]);
  await assert.rejects(
    pullModel({ name: "junk", dir, baseUrl, catalog }),
    (e: unknown) => e instanceof ModelRefusedError && e.code === "not_a_model",
  );
  await assert.rejects(pullModel({ name: "short", dir, baseUrl, catalog }), ModelDownloadError);
  await assert.rejects(
    pullModel({ name: "missing", dir, baseUrl, catalog }),
    (e: unknown) => e instanceof ModelRefusedError && e.code === "not_found" && /404/.test(e.message),
  );
  await assert.rejects(pullModel({ name: "flaky", dir, baseUrl, catalog }), (e: unknown) => e instanceof ModelDownloadError && /503/.test(e.message));
  await assert.rejects(
    pullModel({ name: "nope", dir, baseUrl, catalog }),
    (e: unknown) => e instanceof ModelRefusedError && e.code === "unknown_model",
  );
  assert.deepEqual(listDir(dir), []);
});

test("CLI: the real catalog's published SHA-1 refuses a file that is not that model; a pin verifies; no checksum says so", async () => {
  const dir = freshDir();
  const env = { PODFLEET_MODELS_URL: baseUrl };

  const bad = await runCli(["models", "pull", "tiny.en", "--dir", dir], env, 60_000);
  assert.equal(bad.code, 1, bad.stderr);
  assert.equal(bad.stderr.trim().split("\n").length, 1, bad.stderr);
  assert.match(
    bad.stderr,
    /^podfleet: ggml-tiny\.en\.bin failed SHA-1 verification \(expected c78c86eb1a8faa21b369bcd33207cc90d64ae9df, got [0-9a-f]{40}\)/,
  );
  assert.deepEqual(listDir(dir), []);

  const pinned = await runCli(["models", "pull", "large-v3-turbo", "--dir", dir, "--sha256", sha256, "--json"], env, 60_000);
  assert.equal(pinned.code, 0, pinned.stderr);
  const json = JSON.parse(pinned.stdout) as { verified: string[]; sha256Source: string; path: string };
  assert.deepEqual([json.verified, json.sha256Source, json.path], [["sha256"], "pin", path.join(dir, "ggml-large-v3-turbo.bin")]);

  const unverified = await runCli(["models", "pull", "tiny-q5_1"], { ...env, PODFLEET_MODELS_DIR: dir }, 60_000);
  assert.equal(unverified.code, 0, unverified.stderr);
  assert.match(unverified.stdout, /NOT verified: no checksum is known for tiny-q5_1/);
  assert.ok(fs.existsSync(path.join(dir, "ggml-tiny-q5_1.bin")));

  // without --dir or PODFLEET_MODELS_DIR: under the data directory, where local machines look (not /models)
  const dataDir = path.join(freshDir(), "data");
  const byDefault = await runCli(["models", "pull", "tiny-q5_1", "--json"], { ...env, PODFLEET_DATA_DIR: dataDir }, 60_000);
  assert.equal(byDefault.code, 0, byDefault.stderr);
  assert.equal((JSON.parse(byDefault.stdout) as { path: string }).path, path.join(dataDir, "models", "ggml-tiny-q5_1.bin"));
  assert.ok(fs.existsSync(path.join(dataDir, "models", "ggml-tiny-q5_1.bin")));

  const unknown = await runCli(["models", "pull", "huge.en", "--dir", dir], env, 60_000);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^podfleet: unknown model "huge\.en"/);

  const list = await runCli(["models", "list", "--dir", dir, "--json"], env, 60_000);
  const models = (JSON.parse(list.stdout) as { models: Array<{ name: string; present: boolean; checksum: string }> }).models;
  assert.deepEqual(
    models.find((m) => m.name === "tiny-q5_1"),
    { ...models.find((m) => m.name === "tiny-q5_1")!, present: true, checksum: "none" },
  );
  assert.equal(models.find((m) => m.name === "tiny.en")?.present, false);
  assert.equal(models.find((m) => m.name === "tiny.en")?.checksum, "sha1");
});

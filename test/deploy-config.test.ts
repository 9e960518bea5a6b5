/**
 * The deployment files agree with the code: both fly.*.toml files parse and match the config
 * schemas (ports, env names, volume path), and the Dockerfiles pass a documented checklist
 * (hadolint is not packaged for Debian bookworm, and no Docker engine runs here).
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import { describe, test } from "node:test";
import { WORKER_ENV } from "../contract/wire.ts";
import { WHISPER_ENV, parseWorkerConfig } from "../machine-image/worker/worker-config.ts";
import { parseConfig } from "../orchestrator/config.ts";
import { parseDockerfile } from "./support/dockerfile-stages.ts";
import { parseTomlSubset, type TomlTable } from "./support/toml-subset.ts";

const read = (p: string) => fs.readFileSync(new URL(`../${p}`, import.meta.url), "utf8");
const table = (v: unknown): TomlTable => v as TomlTable;
/** A value the file must give as a string (fails the test otherwise). */
const text = (v: unknown): string => {
  assert.equal(typeof v, "string", `expected a string, got ${JSON.stringify(v)}`);
  return v as string;
};
const envOf = (t: TomlTable): Record<string, string> => Object.fromEntries(Object.entries(table(t.env ?? {})).map(([k, v]) => [k, text(v)]));

describe("fly.orchestrator.toml", () => {
  const toml = parseTomlSubset(read("fly.orchestrator.toml"));
  const env = envOf(toml);

  test("every [env] name is one orchestrator/config.ts reads, and the values parse", () => {
    const source = read("orchestrator/config.ts");
    for (const name of Object.keys(env)) assert.match(source, new RegExp(`\\b${name}:`), `${name} is in the config schema`);
    const secrets = { FLY_API_TOKEN: "x", NATS_URL: "nats://nats.internal:4222", PODFLEET_WORKER_IMAGE: "registry.fly.io/podfleet-workers:v1" };
    const config = parseConfig({ ...env, ...secrets });
    assert.equal(config.machines.kind, "fly");
    const http = table(toml.http_service);
    assert.equal(http.internal_port, config.port, "http_service.internal_port = PORT");
    assert.equal(http.min_machines_running, 1);
    assert.equal(http.auto_stop_machines, "off");
    const checks = http.checks as TomlTable[];
    assert.equal(checks[0]?.path, "/healthz");
    assert.match(read("orchestrator/http/api.ts"), /path: "\/healthz",\s+access: "public"/);
    assert.equal(table(toml.mounts).destination, config.dataDir, "volume mounted at PODFLEET_DATA_DIR");
    assert.equal(config.host, "::", "listens on every address for Fly's proxy");
    assert.ok(toml.kill_timeout, "kill timeout set");
    assert.ok(fs.existsSync(new URL(`../${text(table(toml.build).dockerfile)}`, import.meta.url)), "its Dockerfile exists");
  });
});

describe("fly.worker.toml", () => {
  const toml = parseTomlSubset(read("fly.worker.toml"));
  const env = envOf(toml);

  test("no services, a Dockerfile that exists, env the worker reads", () => {
    assert.equal(toml.http_service, undefined);
    assert.equal(toml.services, undefined);
    assert.equal(
      toml.app,
      parseTomlSubset(read("fly.orchestrator.toml")).env && table(parseTomlSubset(read("fly.orchestrator.toml")).env).FLY_APP,
      "orchestrator's FLY_APP names this app",
    );
    const dockerfile = text(table(toml.build).dockerfile);
    assert.ok(fs.existsSync(new URL(`../${dockerfile}`, import.meta.url)));
    const known = new Set<string>([...Object.values(WORKER_ENV), ...Object.values(WHISPER_ENV)]);
    for (const name of Object.keys(env)) assert.ok(known.has(name), `${name} is read by the worker`);
    const config = parseWorkerConfig({ ...env, NATS_URL: "nats://nats.internal:4222" });
    assert.equal(config.engine, "whisper");
    assert.equal(config.whisper?.modelsDir, "/models");
    for (const arg of Object.keys(table(table(toml.build).args ?? {})))
      assert.match(read(dockerfile), new RegExp(`^ARG ${arg}=`, "m"), `build arg ${arg} is declared`);
    const vm = (toml.vm as TomlTable[])[0]!;
    assert.ok(vm.size || vm.cpus, "vm size set");
  });
});

/** A checklist instead of hadolint: the rules that matter for these images. */
function checkDockerfile(text: string): string[] {
  const problems: string[] = [];
  const lines = text.replace(/\\\n/g, " ").split("\n");
  const froms = lines.filter((l) => /^FROM /.test(l));
  if (froms.length < 2) problems.push("multi-stage: expected 2+ FROM");
  // A base is pinned by tag, or is another stage of the file (named, or chosen by a build arg).
  const stageNames = froms.map((f) => /\sAS\s+(\S+)/i.exec(f)?.[1]).filter((n): n is string => n !== undefined);
  const isStage = (base: string) => stageNames.includes(base) || stageNames.some((n) => base.includes("${") && n.startsWith(base.split("${")[0]!));
  for (const f of froms) {
    const base = f.split(/\s+/)[1] ?? "";
    if (!/:[^\s]+/.test(base) && !isStage(base)) problems.push(`pinned base image: ${f}`);
  }
  for (const l of lines) {
    if (/apt-get install/.test(l) && !/--no-install-recommends/.test(l)) problems.push(`DL3015 --no-install-recommends: ${l.slice(0, 60)}`);
    if (/apt-get install/.test(l) && !/rm -rf \/var\/lib\/apt\/lists/.test(l)) problems.push("DL3009 remove apt lists in the same layer");
    if (/apt-get install/.test(l) && !/-y\b/.test(l)) problems.push("DL3014 apt-get -y");
    if (/^RUN .*\bcd /.test(l)) problems.push("DL3003 use WORKDIR, not cd");
    if (/^ADD /.test(l)) problems.push("DL3020 COPY, not ADD");
    if (/^RUN .*\bsudo\b/.test(l)) problems.push("DL3004 no sudo");
    if (/^RUN .*npm (install|i)\b/.test(l)) problems.push("use npm ci");
  }
  const users = lines.filter((l) => /^USER /.test(l));
  if (users.length === 0 || /root|^USER 0/.test(users[users.length - 1]!)) problems.push("DL3002 last USER must not be root");
  if (!lines.some((l) => /^(CMD|ENTRYPOINT) \[/.test(l))) problems.push("DL3025 JSON-form CMD/ENTRYPOINT");
  return problems;
}

describe("Dockerfiles (checklist)", () => {
  test("machine-image/Dockerfile: multi-stage, AVX2 + CUDA by arg, model by arg, bundled worker, non-root", () => {
    const text = read("machine-image/Dockerfile");
    assert.deepEqual(checkDockerfile(text), []);
    assert.match(text, /-DGGML_AVX2=ON/);
    assert.match(text, /-DGGML_NATIVE=OFF/);
    assert.match(text, /-DGGML_CUDA=ON/);
    assert.match(text, /^FROM whisper-\$\{WHISPER_BUILD\} AS whisper$/m);
    assert.match(text, /npm ci --omit=dev/);
    assert.match(text, /PODFLEET_MODELS_DIR=\/models/);
    // the image runs the bundle machine-image/build-worker.ts makes (test/worker-permissions runs that bundle for real)
    assert.match(text, /RUN node --import tsx machine-image\/build-worker\.ts \/out\/worker\.mjs/);
    assert.match(text, /CMD \["node", "\/app\/worker\.mjs"\]/);
    assert.ok(fs.existsSync(new URL("../machine-image/build-worker.ts", import.meta.url)));
  });
  test("machine-image/Dockerfile: the CUDA variant's runtime stage has the CUDA runtime libraries whisper-server links against", () => {
    const stages = parseDockerfile(read("machine-image/Dockerfile"));
    const byName = (name: string) => stages.find((s) => s.name === name);
    const runtime = stages[stages.length - 1]!;
    const baseFor = (build: string) => byName(runtime.base.replace("${WHISPER_BUILD}", build));
    const cudaBuild = byName("whisper-cuda")!;
    const cudaVersion = /^nvidia\/cuda:(\d+\.\d+\.\d+)-(cudnn\d*-)?devel-/.exec(cudaBuild.base)?.[1];
    assert.ok(cudaVersion, `the CUDA build stage is on an nvidia/cuda devel image: ${cudaBuild.base}`);
    const cudaRuntime = baseFor("cuda");
    assert.ok(cudaRuntime, `the runtime stage's base depends on WHISPER_BUILD: FROM ${runtime.base}`);
    // NVIDIA's runtime image carries libcudart, libcublas and libcublasLt, of the version the server was built with.
    assert.match(cudaRuntime.base, new RegExp(`^nvidia/cuda:${cudaVersion.replace(/\./g, "\\.")}-(cudnn\\d*-)?runtime-`));
    assert.ok(
      cudaRuntime.copies.some((c) => c.dest === "/usr/local/bin/node"),
      "and Node, which the CUDA image lacks",
    );
    // The CPU variant stays on the slim Node image: no CUDA libraries there.
    assert.match(baseFor("cpu")?.base ?? "", /^node:\$\{NODE_VERSION\}-bookworm-slim$/);
  });
  test("orchestrator/Dockerfile passes the same checklist", () => {
    assert.deepEqual(checkDockerfile(read("orchestrator/Dockerfile")), []);
  });
  test("the checklist catches what it claims to", () => {
    assert.ok(checkDockerfile("FROM debian\nRUN apt-get install curl\nADD x y\nCMD node x").length >= 4);
  });
});

/**
 * The API document and the routes agree: `/openapi.json` holds what OpenAPI 3.1 requires, covers
 * every route the app serves (and names nothing it does not), each route's declared access is what
 * it enforces, `/docs` renders the same document offline, and README.md's API table is the one the
 * routes generate. All in process (`app.request()`) against a real orchestrator with no machines.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Hono } from "hono";
import { getCookie } from "hono/cookie";
import { parseConfig } from "../orchestrator/config.ts";
import { createApi, type Api } from "../orchestrator/http/api.ts";
import { ApiError } from "../orchestrator/http/api-error.ts";
import { EpisodeList, EpisodeSchema } from "../orchestrator/http/episode-schema.ts";
import { wavHeader } from "../orchestrator/ingest/audio-decode.ts";
import type { ApiDocument } from "../orchestrator/http/api-reference.ts";
import { route } from "../orchestrator/http/api-route.ts";
import { apiTable, readmeApiTable } from "../orchestrator/http/api-table.ts";
import { createLogger } from "../orchestrator/log.ts";
import { startOrchestrator, type Orchestrator } from "../orchestrator/orchestrator.ts";

const HTTP_METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/**
 * The structural rules of OpenAPI 3.1 that a generator can get wrong: version, info, path keys,
 * operations with responses that have descriptions, path templates matched by required path
 * parameters, unique (name, in) per operation, security schemes and $refs that resolve.
 * Returns every violation found (empty: valid).
 */
function openApiViolations(doc: Record<string, any>): string[] {
  const bad: string[] = [];
  if (typeof doc.openapi !== "string" || !/^3\.[01]\.\d+$/.test(doc.openapi)) bad.push(`openapi: "${doc.openapi}" is not a 3.0/3.1 version`);
  if (typeof doc.info?.title !== "string" || typeof doc.info?.version !== "string") bad.push("info.title and info.version are required strings");
  if (!doc.paths || typeof doc.paths !== "object") bad.push("paths must be an object");
  const schemes = doc.components?.securitySchemes ?? {};
  const checkSecurity = (where: string, security: unknown) => {
    if (security === undefined) return;
    if (!Array.isArray(security)) return bad.push(`${where}: security must be an array`);
    for (const req of security)
      for (const name of Object.keys(req)) if (!schemes[name]) bad.push(`${where}: security scheme ${name} is not in components.securitySchemes`);
  };
  checkSecurity("document", doc.security);
  const operationIds = new Set<string>();
  for (const [p, item] of Object.entries<Record<string, any>>(doc.paths ?? {})) {
    if (!p.startsWith("/")) bad.push(`path ${p} must start with /`);
    const templated = [...p.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!);
    for (const key of Object.keys(item)) {
      if (!HTTP_METHODS.includes(key) && !["summary", "description", "servers", "parameters", "$ref"].includes(key))
        bad.push(`${p}: unknown key ${key}`);
    }
    for (const method of HTTP_METHODS.filter((m) => item[m])) {
      const op = item[method];
      const where = `${method.toUpperCase()} ${p}`;
      if (!op.responses || Object.keys(op.responses).length === 0) bad.push(`${where}: responses are required`);
      for (const [status, r] of Object.entries<any>(op.responses ?? {})) {
        if (!/^([1-5]\d\d|[1-5]XX|default)$/.test(status)) bad.push(`${where}: response key ${status}`);
        if (!r.$ref && typeof r.description !== "string") bad.push(`${where} ${status}: a response needs a description`);
      }
      const params: any[] = [...(item.parameters ?? []), ...(op.parameters ?? [])];
      const keys = new Set<string>();
      for (const prm of params) {
        if (prm.$ref) continue;
        if (!prm.name || !["query", "header", "path", "cookie"].includes(prm.in)) bad.push(`${where}: parameter needs a name and a valid "in"`);
        if (keys.has(`${prm.in}:${prm.name}`)) bad.push(`${where}: parameter ${prm.name} in ${prm.in} twice`);
        keys.add(`${prm.in}:${prm.name}`);
        if (prm.in === "path" && prm.required !== true) bad.push(`${where}: path parameter ${prm.name} must be required`);
        if (prm.in === "path" && !templated.includes(prm.name)) bad.push(`${where}: path parameter ${prm.name} is not in the template`);
      }
      for (const name of templated) if (!keys.has(`path:${name}`)) bad.push(`${where}: {${name}} has no path parameter`);
      if (
        op.requestBody &&
        !op.requestBody.$ref &&
        (typeof op.requestBody.content !== "object" || Object.keys(op.requestBody.content).length === 0)
      ) {
        bad.push(`${where}: requestBody.content is required`);
      }
      if (op.operationId) {
        if (operationIds.has(op.operationId)) bad.push(`${where}: operationId ${op.operationId} is not unique`);
        operationIds.add(op.operationId);
      }
      checkSecurity(where, op.security);
    }
  }
  // every $ref points at something in the document
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== "object") return;
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string") {
        const target = v
          .replace(/^#\//, "")
          .split("/")
          .reduce<any>((o, seg) => o?.[seg.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
        if (!v.startsWith("#/") || target === undefined) bad.push(`$ref ${v} does not resolve`);
      } else walk(v);
    }
  };
  walk(doc);
  return bad;
}

/** Routes the app serves that the document lacks, and operations the document has that no route serves. */
function coverageGaps(api: Api, doc: ApiDocument): { missing: string[]; phantom: string[] } {
  const undocumented = new Set(api.undocumented.map((u) => `${u.method} ${u.path}`));
  const served = new Set<string>();
  for (const r of api.app.routes) {
    if (r.method === "ALL" && (r.path === "*" || r.path === "/*")) continue; // app-wide middleware (metrics)
    if (undocumented.has(`${r.method} ${r.path}`)) continue;
    served.add(`${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`);
  }
  const documented = new Set<string>();
  for (const [p, item] of Object.entries(doc.paths ?? {})) {
    for (const m of HTTP_METHODS) if ((item as Record<string, unknown>)[m]) documented.add(`${m.toUpperCase()} ${p}`);
  }
  return { missing: [...served].filter((k) => !documented.has(k)), phantom: [...documented].filter((k) => !served.has(k)) };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-openapi-"));
const config = parseConfig(
  { PODFLEET_MAX_MACHINES: "0", PODFLEET_NATS_PREFIX: "openapitest", PODFLEET_LOG_LEVEL: "silent" },
  { dataDir: path.join(tmp, "data"), port: 0, host: "127.0.0.1" },
);
let orch: Orchestrator;
let doc: ApiDocument;

before(async () => {
  orch = await startOrchestrator(config, createLogger("silent"));
  const res = await orch.api.app.request("/openapi.json");
  assert.equal(res.status, 200, "the document needs no token");
  doc = (await res.json()) as ApiDocument;
});
after(async () => {
  await orch?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe("/openapi.json", () => {
  test("is a structurally valid OpenAPI 3.1 document", () => {
    assert.deepEqual(openApiViolations(doc as Record<string, any>), []);
    assert.equal(doc.openapi, "3.1.0");
  });

  test("the validator catches what a broken document would get wrong", () => {
    const broken = structuredClone(doc) as Record<string, any>;
    broken.openapi = "2.0";
    delete broken.paths["/v1/episodes/{id}"].get.responses;
    broken.paths["/v1/feeds/{id}"].get.parameters = [];
    broken.paths["/healthz"].get.security = [{ cookie: [] }];
    const found = openApiViolations(broken).join("\n");
    for (const expected of [
      /openapi: "2.0"/,
      /GET \/v1\/episodes\/\{id\}: responses are required/,
      /GET \/v1\/feeds\/\{id\}: \{id\} has no path parameter/,
      /security scheme cookie/,
    ]) {
      assert.match(found, expected);
    }
  });

  test("covers every route the app serves, and documents no route it does not serve", () => {
    const gaps = coverageGaps(orch.api, doc);
    assert.deepEqual(gaps, { missing: [], phantom: [] });
    assert.ok(Object.keys(doc.paths ?? {}).length >= 25, "the whole API, not an empty app");
  });

  test("a route registered behind the factory's back is reported missing", () => {
    const api = createApi({ log: createLogger("silent") });
    api.app.get("/v1/sneaky/:id", (c) => c.json({}));
    const gaps = coverageGaps(api, api.document());
    assert.deepEqual(gaps.missing, ["GET /v1/sneaky/{id}"]);
  });

  test("a mounted sub-app with its own authentication is listed as undocumented, with why, and serves at its path", async () => {
    const pages = new Hono();
    pages.get("/", (c) => c.html("<h1>dashboard</h1>"));
    const api = createApi(
      { log: createLogger("silent"), authenticate: async () => undefined },
      { apps: [{ path: "/", app: pages, undocumented: "browser pages" }] },
    );
    assert.deepEqual(api.undocumented, [{ method: "GET", path: "/", why: "browser pages" }]);
    assert.deepEqual(coverageGaps(api, api.document()), { missing: [], phantom: [] });
    assert.equal((await api.app.request("/")).status, 200, "its own auth decides, not the bearer check");
    assert.equal((await api.app.request("/elsewhere")).status, 401, "unknown paths still need a token");
  });

  test("a route module can bring its own access check (a session cookie), documented under its name", async () => {
    const session = route({
      method: "get",
      path: "/v1/session-check",
      access: {
        name: "session",
        guard: async (c, next) => {
          if (getCookie(c, "session") !== "good") throw new ApiError(401, "no_session", "log in first");
          await next();
        },
      },
      tag: "test",
      summary: "needs a session cookie",
      responses: { 200: { description: "ok" } },
      handler: (c) => c.json({ ok: true }),
    });
    const api = createApi({ log: createLogger("silent"), authenticate: async (t) => (t === "admin" ? "tok_1" : undefined) }, { routes: [[session]] });
    const bare = await api.app.request("/v1/session-check", { headers: { authorization: "Bearer admin" } });
    assert.equal(bare.status, 401, "a bearer token is not a session");
    assert.deepEqual(await bare.json(), { error: { code: "no_session", message: "log in first" } });
    assert.equal((await api.app.request("/v1/session-check", { headers: { cookie: "session=good" } })).status, 200);
    const op = (api.document().paths?.["/v1/session-check"]?.get ?? {}) as Record<string, unknown>;
    assert.equal(op["x-podfleet-access"], "session");
    assert.deepEqual(op.security, []);
  });

  test("each operation enforces the access it declares", async () => {
    let checked = 0;
    for (const [p, item] of Object.entries(doc.paths ?? {})) {
      for (const m of HTTP_METHODS) {
        const op = (item as Record<string, any>)[m];
        if (!op) continue;
        const access = op["x-podfleet-access"];
        assert.equal(typeof access, "string", `${m} ${p} declares its access`);
        assert.deepEqual(op.security, access === "admin" ? [{ bearerAuth: [] }] : [], `${m} ${p}: security matches its access`);
        const url = p.replace(/\{(\w+)\}/g, "nope_$1");
        const res = await orch.api.app.request(url, {
          method: m.toUpperCase(),
          ...(m === "get" || m === "options" ? {} : { body: "{}", headers: { "content-type": "application/json" } }),
        });
        if (access === "public" || access === "webhook") assert.notEqual(res.status, 401, `${m} ${p} answers without a token (${res.status})`);
        else assert.ok([401, 403].includes(res.status), `${m} ${p} (${access}) refuses a request without credentials (${res.status})`);
        await res.body?.cancel();
        checked++;
      }
    }
    assert.ok(checked >= 25);
    const preflight = await orch.api.app.request("/v1/episodes/ep_x/deliveries", { method: "OPTIONS" });
    assert.equal(preflight.status, 401, "only the published files answer a preflight without a token");
  });
});

describe("documented responses", () => {
  test("an episode as the API returns it (view, list) is what the document says, field for field", async () => {
    const auth = { authorization: `Bearer ${orch.adminToken}` };
    const samples = 16_000;
    const res = await orch.api.app.request("/v1/episodes?title=schema", {
      method: "POST",
      body: Buffer.concat([wavHeader(samples), Buffer.alloc(samples * 2)]),
      headers: { ...auth, "content-type": "audio/wav" },
    });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    const view = await (await orch.api.app.request(`/v1/episodes/${id}`, { headers: auth })).json();
    const parsed = EpisodeSchema.strict().safeParse(view);
    assert.ok(parsed.success, parsed.error?.message);
    const list = await (await orch.api.app.request("/v1/episodes", { headers: auth })).json();
    assert.ok(EpisodeList.safeParse(list).success);
    const documented = (doc.paths?.["/v1/episodes/{id}"]?.get?.responses?.["200"] as { content: Record<string, { schema: unknown }> }).content[
      "application/json"
    ]!.schema;
    assert.deepEqual(documented, { $ref: "#/components/schemas/Episode" });
  });
});

describe("/docs", () => {
  test("renders every operation of the document as HTML that loads nothing from elsewhere", async () => {
    const res = await orch.api.app.request("/docs");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/html/);
    const html = await res.text();
    for (const p of Object.keys(doc.paths ?? {})) assert.ok(html.includes(`<code>${p.replace(/&/g, "&amp;")}</code>`), `${p} is on the page`);
    assert.doesNotMatch(html, /<script|<link|src=/i, "no scripts, stylesheets or images to fetch");
    assert.doesNotMatch(html, /href="https?:/i);
  });
});

describe("README.md", () => {
  test("its API table is the one the routes generate (npm run api:readme rewrites it)", () => {
    const readme = fs.readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const table = readmeApiTable(readme);
    assert.ok(table, "README.md has the api-table markers");
    assert.equal(table, apiTable(doc), "README.md's API table is stale: run `npm run api:readme`");
  });
});

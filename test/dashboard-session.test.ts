/**
 * Dashboard sign-in, sessions and CSRF over real HTTP against a whole orchestrator (no workers):
 * the cookie's attributes, an action refused without the session's CSRF token or from another
 * origin, sign-out and a revoked admin token both ending the session, the JSON API still needing
 * a bearer token (the cookie is not one), and the limits form validated like PUT /v1/fleet/limits.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Orchestrator } from "../orchestrator/orchestrator.ts";
import { limitsPatch } from "../orchestrator/dashboard/dashboard-actions.ts";
import { api, startStack, suiteCleanup } from "./support/ingest-stack.ts";

const suite = suiteCleanup();
let orch: Orchestrator;
before(async () => {
  orch = await startStack(suite);
});
after(() => suite.run());

/** Signs in with `token`; returns the cookie and the page's CSRF token. */
async function signIn(token: string): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const res = await fetch(`${orch.url}/ui/login`, { method: "POST", body: new URLSearchParams({ token }), redirect: "manual" });
  assert.equal(res.status, 303);
  const setCookie = res.headers.get("set-cookie") ?? "";
  const cookie = setCookie.split(";")[0]!;
  const page = await fetch(`${orch.url}/`, { headers: { cookie } });
  assert.equal(page.status, 200);
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(await page.text())?.[1];
  assert.ok(csrf, "the page carries its CSRF token");
  return { cookie, csrf, setCookie };
}

function post(path: string, cookie: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(`${orch.url}${path}`, {
    method: "POST",
    headers: { cookie, accept: "application/json", ...headers },
    body: new URLSearchParams(fields),
    redirect: "manual",
  });
}

test("without a session the dashboard sends the browser to sign in; a wrong token is refused", async () => {
  const res = await fetch(`${orch.url}/`, { redirect: "manual" });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/ui/login");
  const login = await fetch(`${orch.url}/ui/login`);
  assert.match(await login.text(), /type="password"/);
  const wrong = await fetch(`${orch.url}/ui/login`, { method: "POST", body: new URLSearchParams({ token: "pf_nope" }), redirect: "manual" });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get("set-cookie"), null);
});

test("the session cookie is HttpOnly and SameSite=Strict; the JSON API does not take it", async () => {
  const { cookie, setCookie } = await signIn(orch.adminToken);
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  assert.doesNotMatch(setCookie, /Secure/, "plain http: not Secure (the browser would drop it)");
  const apiWithCookie = await fetch(`${orch.url}/v1/episodes`, { headers: { cookie } });
  assert.equal(apiWithCookie.status, 401);
});

test("every action needs the session's CSRF token and a same-origin Origin", async () => {
  const { cookie, csrf } = await signIn(orch.adminToken);
  const fields = { maxMachines: "3" };
  assert.equal((await post("/ui/fleet/limits", cookie, fields)).status, 403, "no token");
  assert.equal((await post("/ui/fleet/limits", cookie, { ...fields, _csrf: "x".repeat(csrf.length) })).status, 403, "a wrong token");
  assert.equal(
    (await post("/ui/fleet/limits", cookie, { ...fields, _csrf: csrf }, { origin: "https://evil.example" })).status,
    403,
    "another origin",
  );
  const ok = await post("/ui/fleet/limits", cookie, { ...fields, _csrf: csrf }, { origin: orch.url });
  assert.equal(ok.status, 200);
  assert.deepEqual(((await ok.json()) as { changed: string[] }).changed, ["maxMachines"]);
  const viaHeader = await post("/ui/fleet/limits", cookie, { maxMachines: "4" }, { "x-csrf-token": csrf });
  assert.equal(viaHeader.status, 200);
  assert.equal((await api(orch.url, "GET", "/v1/fleet")).body.limits.maxMachines, 4);
});

test("the limits form is validated like PUT /v1/fleet/limits and sends only what changed", async () => {
  const { cookie, csrf } = await signIn(orch.adminToken);
  const bad = await post("/ui/fleet/limits", cookie, { _csrf: csrf, maxMachines: "-1" });
  assert.equal(bad.status, 400);
  const viaApi = await api(orch.url, "PUT", "/v1/fleet/limits", { maxMachines: -1 });
  assert.equal(((await bad.json()) as { error: { message: string } }).error.message, viaApi.body.error.message);
  const text = await post("/ui/fleet/limits", cookie, { _csrf: csrf, warmPool: "two" });
  assert.equal(text.status, 400);
  assert.match(((await text.json()) as { error: { message: string } }).error.message, /^warmPool:/);

  const current = (await api(orch.url, "GET", "/v1/fleet")).body.limits;
  const unchanged: Record<string, string> = { maxMachines: String(current.maxMachines), image: current.image, regions: current.regions.join(", ") };
  if (current.dailyBudgetMachineSeconds !== null) unchanged.dailyBudgetMachineSeconds = String(current.dailyBudgetMachineSeconds);
  assert.deepEqual(limitsPatch(unchanged, current), {}, "a form sent as it was shown changes nothing");
  assert.deepEqual(
    limitsPatch({ maxMachines: "7", regions: "iad, ams", dailyBudgetMachineSeconds: "3600" }, { ...current, dailyBudgetMachineSeconds: null }),
    {
      maxMachines: 7,
      regions: ["iad", "ams"],
      dailyBudgetMachineSeconds: 3600,
    },
  );
});

test("signing out, or revoking the admin token it was opened with, ends the session", async () => {
  const a = await signIn(orch.adminToken);
  const out = await post("/ui/logout", a.cookie, { _csrf: a.csrf });
  assert.equal(out.status, 303);
  assert.equal((await fetch(`${orch.url}/`, { headers: { cookie: a.cookie }, redirect: "manual" })).status, 303, "signed out");

  const created = await api(orch.url, "POST", "/v1/tokens", { name: "dashboard test" });
  const b = await signIn(created.body.token);
  assert.equal((await fetch(`${orch.url}/ui/fleet`, { headers: { cookie: b.cookie } })).status, 200);
  await api(orch.url, "DELETE", `/v1/tokens/${created.body.id}`);
  assert.equal(
    (await fetch(`${orch.url}/ui/fleet`, { headers: { cookie: b.cookie }, redirect: "manual" })).status,
    303,
    "the revoked token's session ended",
  );
  const events = await fetch(`${orch.url}/ui/events`, { headers: { cookie: b.cookie } });
  assert.equal(events.status, 401, "the event stream too");
});

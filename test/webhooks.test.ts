/**
 * Webhook sources through the real orchestrator (HTTP, libSQL, NATS; no workers): signature
 * schemes, replay and identity idempotency, host payload adapters, and the refusal statuses.
 */
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Webhook } from "standardwebhooks";
import type { Orchestrator } from "../orchestrator/orchestrator.ts";
import { adaptPayload, PayloadError } from "../orchestrator/sources/payload-adapters.ts";
import { verifyWebhook, WebhookAuthError } from "../orchestrator/sources/webhook-signature.ts";
import { api, programmableServer, silentWav, startStack, suiteCleanup } from "./support/ingest-stack.ts";

let orch: Orchestrator;
let audioBase: string;

async function episodeCount(): Promise<number> {
  return (await api(orch.url, "GET", "/v1/episodes?limit=500")).body.episodes.length;
}

async function addSource(name: string, scheme: string, extra: Record<string, string> = {}): Promise<{ url: string; secret: string | null }> {
  const res = await api(orch.url, "POST", "/v1/sources", { name, scheme, ...extra });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body;
}

function standardHeaders(secret: string, id: string, body: string, at = new Date(), prefix = "webhook"): Record<string, string> {
  return {
    "content-type": "application/json",
    [`${prefix}-id`]: id,
    [`${prefix}-timestamp`]: String(Math.floor(at.getTime() / 1000)),
    [`${prefix}-signature`]: new Webhook(secret).sign(id, at, body),
  };
}

describe("webhook sources", () => {
  const cleanup = suiteCleanup();
  after(() => cleanup.run());
  before(async () => {
    orch = await startStack(cleanup);
    const audio = await programmableServer(cleanup, (_req, res) => {
      res.writeHead(200, { "content-type": "audio/wav" }).end(silentWav(1));
    });
    audioBase = audio.url;
  });

  test("a valid Standard Webhooks delivery yields one job; the same delivery again yields none", async () => {
    const src = await addSource("std", "standard");
    assert.match(src.secret!, /^whsec_/);
    const before = await episodeCount();
    const body = JSON.stringify({ audioUrl: `${audioBase}/std.wav`, title: "Standard", guid: "g-std" });
    const headers = standardHeaders(src.secret!, "msg_1", body);
    const first = await api(src.url, "POST", "", body, headers);
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.body.outcome, "queued");
    assert.match(first.body.episodeId, /^ep_/);
    const again = await api(src.url, "POST", "", body, headers);
    assert.equal(again.status, 202);
    assert.equal(again.body.outcome, "duplicate");
    assert.equal(again.body.episodeId, first.body.episodeId);
    assert.equal(await episodeCount(), before + 1);

    // A new delivery id for the same episode (same audio URL) is still the same episode.
    const other = await api(src.url, "POST", "", body, standardHeaders(src.secret!, "msg_2", body));
    assert.equal(other.body.outcome, "duplicate");
    assert.equal(await episodeCount(), before + 1);
  });

  test("bad signature → 401, expired timestamp → 401, unknown token → 404, malformed payload → 400", async () => {
    const src = await addSource("refusals", "standard");
    const body = JSON.stringify({ audioUrl: `${audioBase}/refused.wav` });
    const before = await episodeCount();

    const forged = standardHeaders(`whsec_${Buffer.from("not the secret at all").toString("base64")}`, "msg_bad", body);
    const bad = await api(src.url, "POST", "", body, forged);
    assert.equal(bad.status, 401);
    assert.equal(bad.body.error.code, "bad_signature");

    const tampered = await api(src.url, "POST", "", body.replace("refused", "tampered"), standardHeaders(src.secret!, "msg_t", body));
    assert.equal(tampered.status, 401);

    const old = new Date(Date.now() - 10 * 60 * 1000);
    const expired = await api(src.url, "POST", "", body, standardHeaders(src.secret!, "msg_old", body, old));
    assert.equal(expired.status, 401);
    assert.equal(expired.body.error.code, "expired");

    const missing = await api(src.url, "POST", "", body, { "content-type": "application/json" });
    assert.equal(missing.status, 401);

    const unknown = await api(orch.url, "POST", "/v1/hooks/no-such-token", body, standardHeaders(src.secret!, "msg_u", body));
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, "unknown_source");

    const junk = JSON.stringify({ hello: "world" });
    const malformed = await api(src.url, "POST", "", junk, standardHeaders(src.secret!, "msg_m", junk));
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error.code, "bad_payload");
    const notJson = "{nope";
    assert.equal((await api(src.url, "POST", "", notJson, standardHeaders(src.secret!, "msg_j", notJson))).status, 400);

    assert.equal(await episodeCount(), before, "no refused delivery created a job");
  });

  test("rotation: one matching v1 entry among several is enough", async () => {
    const src = await addSource("rotating", "standard");
    const body = JSON.stringify({ audioUrl: `${audioBase}/rotated.wav` });
    const h = standardHeaders(src.secret!, "msg_rot", body);
    const oldSig = new Webhook(`whsec_${Buffer.from("the previous secret!").toString("base64")}`).sign("msg_rot", new Date(), body);
    h["webhook-signature"] = `${oldSig} ${h["webhook-signature"]}`;
    const res = await api(src.url, "POST", "", body, h);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.outcome, "queued");
  });

  test("svix and GitHub-style signatures", async () => {
    const svix = await addSource("svix", "svix");
    const body = JSON.stringify({ audioUrl: `${audioBase}/svix.wav` });
    const ok = await api(svix.url, "POST", "", body, standardHeaders(svix.secret!, "msg_svix", body, new Date(), "svix"));
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
    assert.equal(
      (await api(svix.url, "POST", "", body, standardHeaders(svix.secret!, "msg_svix2", body))).status,
      401,
      "webhook- headers are not svix- headers",
    );

    const gh = await addSource("github", "github");
    const ghBody = JSON.stringify({ audioUrl: `${audioBase}/gh.wav` });
    const sig = `sha256=${createHmac("sha256", gh.secret!).update(ghBody).digest("hex")}`;
    const good = await api(gh.url, "POST", "", ghBody, {
      "content-type": "application/json",
      "x-hub-signature-256": sig,
      "x-github-delivery": "d-1",
    });
    assert.equal(good.status, 202);
    assert.equal(good.body.outcome, "queued");
    const replay = await api(gh.url, "POST", "", ghBody, {
      "content-type": "application/json",
      "x-hub-signature-256": sig,
      "x-github-delivery": "d-1",
    });
    assert.equal(replay.body.outcome, "duplicate");
    const badGh = await api(gh.url, "POST", "", ghBody, { "content-type": "application/json", "x-hub-signature-256": "sha256=" + "0".repeat(64) });
    assert.equal(badGh.status, 401);
  });

  test("token scheme with Transistor and Acast payloads", async () => {
    const tok = await addSource("hosts", "token");
    assert.equal(tok.secret, null);
    const before = await episodeCount();
    const transistor = (processing: boolean, event = "episode_published") => ({
      event_name: event,
      data: {
        id: "123",
        type: "episode",
        attributes: { title: "Transistor ep", media_url: `${audioBase}/transistor.mp3`, audio_processing: processing },
      },
    });
    const waiting = await api(tok.url, "POST", "", transistor(true));
    assert.equal(waiting.status, 202);
    assert.equal(waiting.body.outcome, "ignored");
    assert.equal((await api(tok.url, "POST", "", transistor(false, "episode_created"))).body.outcome, "ignored");
    const published = await api(tok.url, "POST", "", transistor(false));
    assert.equal(published.body.outcome, "queued");

    const acast = await api(tok.url, "POST", "", { event: "episodePublished", id: "a1", title: "Acast ep", audioUrl: `${audioBase}/acast.mp3` });
    assert.equal(acast.body.outcome, "queued");
    assert.equal((await api(tok.url, "POST", "", { event: "episodePublished", title: "no audio" })).status, 400);
    assert.equal(await episodeCount(), before + 2);
  });

  test("a source with a feed re-reads the item: the feed's enclosure and guid win", async (t) => {
    const feedXml = `<?xml version="1.0"?><rss version="2.0"><channel><title>Hinted</title>
      <item><title>Hinted ep</title><guid>hint-guid-1</guid><enclosure url="${audioBase}/canonical.wav" length="1" type="audio/wav"/></item>
    </channel></rss>`;
    const feed = await programmableServer(t, (_req, res) => res.writeHead(200, { "content-type": "application/rss+xml" }).end(feedXml));
    const src = await addSource("hinted", "token", { feedUrl: `${feed.url}/feed.xml` });
    const res = await api(src.url, "POST", "", { audioUrl: `${audioBase}/tracking-prefix/canonical.wav`, guid: "hint-guid-1" });
    assert.equal(res.body.outcome, "queued", JSON.stringify(res.body));
    const ep = await api(orch.url, "GET", `/v1/episodes/${res.body.episodeId}`);
    assert.equal(ep.body.source.url, `${audioBase}/canonical.wav`);
    assert.equal(ep.body.title, "Hinted ep");
    assert.equal(feed.requests.length, 1);
    const again = await api(src.url, "POST", "", { audioUrl: `${audioBase}/other.wav`, guid: "hint-guid-1" });
    assert.equal(again.body.outcome, "duplicate", "same feed + guid is the same episode");
  });

  test("sources list and remove", async () => {
    const list = await api(orch.url, "GET", "/v1/sources");
    assert.ok(list.body.sources.length >= 5);
    assert.ok(
      list.body.sources.every((s: { secret?: string }) => s.secret === undefined),
      "secrets are shown only once",
    );
    const victim = list.body.sources.find((s: { name: string }) => s.name === "rotating");
    assert.equal((await api(orch.url, "DELETE", `/v1/sources/${victim.id}`)).status, 200);
    assert.equal((await api(victim.url, "POST", "", { audioUrl: `${audioBase}/x.wav` })).status, 404);
  });
});

describe("webhook verification (injected clock) and payload adapters", () => {
  const secret = `whsec_${Buffer.from("0123456789abcdef0123456789abcdef").toString("base64")}`;
  const body = '{"audioUrl":"https://example.com/a.mp3"}';
  const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
  const headersAt = (at: number) => {
    const h = standardHeaders(secret, "msg_c", body, new Date(at));
    return (name: string) => h[name];
  };

  test("tolerance is five minutes either way, on the injected clock", () => {
    const src = { scheme: "standard" as const, secret };
    assert.equal(verifyWebhook(src, body, headersAt(t0), t0 + 299_000).deliveryId, "msg_c");
    assert.equal(verifyWebhook(src, body, headersAt(t0), t0 - 299_000).deliveryId, "msg_c");
    for (const now of [t0 + 301_000, t0 - 301_000]) {
      assert.throws(
        () => verifyWebhook(src, body, headersAt(t0), now),
        (e) => e instanceof WebhookAuthError && e.code === "expired",
      );
    }
  });

  test("adapters recognise hosts by shape and reject the rest", () => {
    assert.equal(adaptPayload({ audioUrl: "https://h/a.mp3", feedUrl: "https://h/feed" }).kind, "publish");
    assert.throws(() => adaptPayload({ audioUrl: "file:///etc/passwd" }), PayloadError);
    assert.throws(() => adaptPayload([1]), PayloadError);
    assert.throws(() => adaptPayload({ event_name: "episode_published", data: {} }), PayloadError);
    const acast = adaptPayload({ event: "episodePublished", episode: { audioUrl: "https://a/x.mp3", title: "Nested" } });
    assert.equal(acast.kind === "publish" && acast.episode.audioUrl, "https://a/x.mp3");
  });
});

/**
 * A process killed (SIGKILL) between claiming an episode identity (feed + guid) and writing the
 * episode row must not leave the identity claimed: the claim and the row are one transaction, so
 * the next poll or webhook for the same episode creates it. The kill is real and at the real point:
 * a child process runs the store's createEpisode with an afterIdentityClaim hook that SIGKILLs it
 * after the identity row was inserted and before the episode row is.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { DuplicateEpisodeError, EpisodeLinks } from "../orchestrator/sources/episode-links.ts";
import { Database } from "../orchestrator/store/database.ts";
import { EpisodeStore } from "../orchestrator/store/episode-store.ts";

const CHILD = fileURLToPath(new URL("./support/identity-crash-child.ts", import.meta.url));

function runChild(args: string[]): Promise<{ signal: NodeJS.Signals | null; code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", reject);
    child.once("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

test("SIGKILL between the identity claim and the episode row leaves nothing claimed; the next submit creates the episode", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-identity-crash-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dbPath = path.join(dir, "podfleet.db");
  (await Database.open(`file:${dbPath}`)).close(); // migrated before the child races for nothing
  const identity = "feed:fd_test#guid:guid-1";

  const crashed = await runChild([dbPath, identity, "ep_crashed"]);
  assert.equal(crashed.signal, "SIGKILL", `the child was killed at the crash point (code ${crashed.code}, stderr ${crashed.stderr})`);
  assert.match(crashed.stdout, /^CLAIMED$/m, "it got as far as claiming the identity");
  assert.doesNotMatch(crashed.stdout, /WRITTEN/);

  const database = await Database.open(`file:${dbPath}`);
  t.after(() => database.close());
  const store = new EpisodeStore(database);
  const links = new EpisodeLinks(database, { allowPrivateUrls: true });
  assert.equal(await links.byIdentity(identity), undefined, "the identity is not left claimed");
  assert.equal(await store.getEpisode("ep_crashed"), undefined);

  // The next poll submits the same episode: it is created, with the identity claimed by it.
  const origin = { kind: "feed-new" as const, identity, feedId: "fd_test", guid: "guid-1" };
  const input = {
    title: "again",
    sourceKind: "url" as const,
    sourceUrl: "https://example.com/a.mp3",
    uploadPath: null,
    chunkSeconds: 60,
    language: "en",
  };
  const link = await links.prepare("ep_next", { origin });
  await store.createEpisode({ id: "ep_next", ...input }, link);
  assert.equal((await store.getEpisode("ep_next"))?.status, "received");
  assert.equal((await links.byIdentity(identity))?.episodeId, "ep_next");

  // And only once: a third submit is a duplicate, refused early or inside the transaction.
  await assert.rejects(links.prepare("ep_third", { origin }), (e) => e instanceof DuplicateEpisodeError && e.existingEpisodeId === "ep_next");
  const late = {
    episodeId: "ep_third",
    identity,
    feedId: "fd_test",
    sourceId: null,
    guid: "guid-1",
    origin: "feed-new",
    callbackUrl: null,
    createdAt: Date.now(),
  };
  await assert.rejects(store.createEpisode({ id: "ep_third", ...input }, late), DuplicateEpisodeError);
  assert.equal(await store.getEpisode("ep_third"), undefined);
});

// Child process for identity-crash.test.ts: submits one episode with a feed identity and SIGKILLs
// itself at the real point between claiming the identity and writing the episode row (the store's
// afterIdentityClaim hook, inside the write). Argv: DB_PATH IDENTITY EPISODE_ID.
import fs from "node:fs";
import { EpisodeLinks } from "../../orchestrator/sources/episode-links.ts";
import { Database } from "../../orchestrator/store/database.ts";
import { EpisodeStore } from "../../orchestrator/store/episode-store.ts";

const [dbPath, identity, episodeId] = process.argv.slice(2);
if (!dbPath || !identity || !episodeId) throw new Error("usage: identity-crash-child DB_PATH IDENTITY EPISODE_ID");
const database = await Database.open(`file:${dbPath}`);
const store = new EpisodeStore(database, Date.now, {
  afterIdentityClaim: () => {
    fs.writeSync(1, "CLAIMED\n");
    process.kill(process.pid, "SIGKILL");
  },
});
const links = new EpisodeLinks(database, { allowPrivateUrls: true });
const link = await links.prepare(episodeId, { origin: { kind: "feed-new", identity, feedId: "fd_test", guid: "guid-1" } });
await store.createEpisode(
  { id: episodeId, title: "crash", sourceKind: "url", sourceUrl: "https://example.com/a.mp3", uploadPath: null, chunkSeconds: 60, language: "en" },
  link,
);
fs.writeSync(1, "WRITTEN\n");

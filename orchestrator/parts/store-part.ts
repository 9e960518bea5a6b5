/**
 * The store part: libSQL (a file in the data directory, or DATABASE_URL), the episode store, the
 * API tokens (the admin token file, PODFLEET_ADMIN_TOKEN) and the fleet id.
 */
import { randomBytes } from "node:crypto";
import { TokenStore } from "../auth/token-store.ts";
import type { Config } from "../config.ts";
import { registerSecret, type Logger } from "../log.ts";
import { Database } from "../store/database.ts";
import { EpisodeStore } from "../store/episode-store.ts";
import { Closer } from "./closer.ts";

export interface StorePart {
  database: Database;
  store: EpisodeStore;
  tokens: TokenStore;
  /** The admin API token kept in `<data-dir>/admin-token`. */
  adminToken: string;
  fleetId: string;
  close(): Promise<void>;
}

export async function openStorePart(config: Config, log: Logger): Promise<StorePart> {
  const closer = new Closer(log);
  return closer.guard(async () => {
    const database = await Database.open(config.database.url, config.database.authToken);
    closer.add(() => database.close());
    database.events.setErrorHandler((error, event) => log.error("state event listener failed", { event: event.type, error }));
    const store = new EpisodeStore(database);
    const tokens = new TokenStore(database);
    const adminToken = await tokens.ensureAdminTokenFile(config.dataDir);
    registerSecret(adminToken);
    if (config.adminToken && !(await tokens.ensureEnvAdminToken(config.adminToken))) {
      log.warn("PODFLEET_ADMIN_TOKEN was revoked through the API and is not accepted; set a new value");
    }
    const fleetId = await store.setSettingIfAbsent("fleet_id", `fl_${randomBytes(6).toString("hex")}`);
    return { database, store, tokens, adminToken, fleetId, close: closer.close };
  });
}

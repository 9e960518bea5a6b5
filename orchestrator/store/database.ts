/**
 * Opens the libSQL database (a local file, or a sqld server), applies the committed migrations,
 * and serializes writes. With a `file:` URL the native driver's busy wait blocks the event loop,
 * so two overlapping write transactions in one process must never happen: every write in the
 * orchestrator goes through `Database.write`.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient, type Client } from "@libsql/client";
import { drizzle, type LibSQLDatabase } from "drizzle-orm/libsql";
import { migrate } from "drizzle-orm/libsql/migrator";
import * as schema from "../../db/schema.ts";

export type Db = LibSQLDatabase<typeof schema>;

const MIGRATIONS_DIR = fileURLToPath(new URL("../../db/migrations", import.meta.url));

export class Database {
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly client: Client,
    readonly db: Db,
  ) {}

  /** Open, configure and migrate. Migrations are idempotent, so this is safe at every start. */
  static async open(url: string, authToken?: string): Promise<Database> {
    if (url.startsWith("file:")) {
      fs.mkdirSync(path.dirname(url.slice("file:".length)), { recursive: true });
    }
    const client = createClient({ url, ...(authToken ? { authToken } : {}) });
    if (url.startsWith("file:")) {
      await client.execute("PRAGMA journal_mode=WAL");
      // Only other processes (a CLI reading the same file) contend; wait for them briefly.
      await client.execute("PRAGMA busy_timeout=5000");
    }
    await client.execute("PRAGMA foreign_keys=ON");
    const db = drizzle(client, { schema });
    await migrate(db, { migrationsFolder: MIGRATIONS_DIR });
    return new Database(client, db);
  }

  /** Run `fn` after every earlier write has finished: one writer at a time in this process. */
  write<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    const run = this.queue.then(() => fn(this.db));
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.client.close();
  }
}

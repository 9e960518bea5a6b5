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
import type { Fence } from "../cluster/fence.ts";
import type { ClaimRef } from "../cluster/work-claims.ts";
import { StateEvents, type StateEvent } from "../events/state-events.ts";
import { guardedWrite } from "./guarded-write.ts";

export type Db = LibSQLDatabase<typeof schema>;

const MIGRATIONS_DIR = fileURLToPath(new URL("../../db/migrations", import.meta.url));

/**
 * The database could not be reached or migrated at startup (sqld down, wrong URL, bad token).
 * Retryable from the operator's point of view: fix the server or DATABASE_URL and start again.
 */
export class DatabaseUnavailableError extends Error {
  override readonly name = "DatabaseUnavailableError";
}

/** The URL without credentials or query string, safe to log. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return u.protocol === "file:" ? url : `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  } catch {
    return url.split("?")[0] ?? url;
  }
}

/** What a `Database.commit` body calls to announce a change; the event goes out once the write has committed. */
export type EmitStateEvent = (event: StateEvent) => void;

/**
 * `fence`: the write is a leader duty's (cluster/fence.ts). `claim`: the write is part of work held
 * under a claim (cluster/work-claims.ts). With either, it runs in one transaction that first checks
 * the stored leader term equals the fence's (else FencedError) and the claim is still the writer's
 * (else ClaimLostError), and writes nothing when one fails (store/guarded-write.ts). The body must
 * then use only the `db` it is given. Neither: a plain write.
 */
export interface WriteOptions {
  fence?: Fence | undefined;
  claim?: ClaimRef | undefined;
}

export class Database {
  private queue: Promise<unknown> = Promise.resolve();
  /** State events of every store on this database, emitted after commit (events/state-events.ts). */
  readonly events = new StateEvents();

  private constructor(
    readonly client: Client,
    readonly db: Db,
  ) {}

  /**
   * Open, configure and migrate. Migrations are idempotent, so this is safe at every start.
   * `url` is `file:PATH` (embedded) or a sqld server (`http(s)://`, `libsql://`, `ws(s)://`); a
   * server that cannot be reached or migrated rejects with DatabaseUnavailableError.
   */
  static async open(url: string, authToken?: string): Promise<Database> {
    const local = url.startsWith("file:");
    if (local) {
      // it holds webhook and callback secrets: owner-only, wherever DATABASE_URL puts it
      const file = url.slice("file:".length);
      fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      for (const f of [file, `${file}-wal`, `${file}-shm`]) if (fs.existsSync(f)) fs.chmodSync(f, 0o600);
    }
    const client = createClient({ url, ...(authToken ? { authToken } : {}) });
    try {
      if (local) {
        await client.execute("PRAGMA journal_mode=WAL");
        // In WAL mode NORMAL never corrupts the database; it syncs at checkpoints instead of every
        // commit, so a power cut (not a crash of this process) can lose the last commits. That only
        // re-runs work: a lost claim or result makes the chunk be done again (at-least-once).
        // Measured here: a select + update pair costs 0.29 ms CPU instead of 0.40, half the wall time.
        await client.execute("PRAGMA synchronous=NORMAL");
        // Only other processes (a CLI reading the same file) contend; wait for them briefly.
        await client.execute("PRAGMA busy_timeout=5000");
        // Over HTTP every request may use another server connection, so a PRAGMA would not
        // stick; sqld enforces foreign keys by default, which is what this sets for a file.
        await client.execute("PRAGMA foreign_keys=ON");
      }
      const db = drizzle(client, { schema });
      await migrateShared(db, local);
      return new Database(client, db);
    } catch (err) {
      client.close();
      if (local) throw err;
      throw new DatabaseUnavailableError(`cannot open libSQL server ${redactUrl(url)}: ${err instanceof Error ? err.message : String(err)}`, {
        cause: err,
      });
    }
  }

  /** Run `fn` after every earlier write has finished: one writer at a time in this process. */
  write<T>(fn: (db: Db) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    return this.#serialized(fn, options, () => undefined);
  }

  /**
   * A write (like `write`) that announces what it changed: the events `fn` passes to `emit` go out,
   * in order, after `fn` has resolved (its statements committed) and before the next write starts;
   * if `fn` throws, none do.
   */
  commit<T>(fn: (db: Db, emit: EmitStateEvent) => Promise<T>, options: WriteOptions = {}): Promise<T> {
    const pending: StateEvent[] = [];
    return this.#serialized(
      (db) => fn(db, (event) => void pending.push(event)),
      options,
      () => {
        for (const event of pending) this.events.emit(event);
      },
    );
  }

  /** Queues `fn` behind every earlier write; `committed` runs once its statements are committed, still before the next write. */
  #serialized<T>(fn: (db: Db) => Promise<T>, options: WriteOptions, committed: () => void): Promise<T> {
    const guarded = options.fence !== undefined || options.claim !== undefined;
    const run = this.queue.then(async () => {
      const result = guarded ? await guardedWrite(this.client, options, fn) : await fn(this.db);
      committed();
      return result;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Runs the migrations. Several orchestrators starting together against one sqld race here: the
 * migrator's batches are not serialized between clients, so the loser fails ("table ... already
 * exists") while the winner commits. The migrations it then finds recorded are skipped, so a
 * remote database is migrated again a few times, a moment apart, before the error is believed.
 */
async function migrateShared(db: Parameters<typeof migrate>[0], local: boolean): Promise<void> {
  const attempts = local ? 1 : 5;
  for (let i = 1; ; i++) {
    try {
      await migrate(db, { migrationsFolder: MIGRATIONS_DIR });
      return;
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 200 * i + Math.floor(Math.random() * 200)));
    }
  }
}

/**
 * Admin API bearer tokens: created with 32 random bytes, stored only as their SHA-256, checked in
 * constant time per lookup by hash, revoked by id. `ensureAdminTokenFile` gives a local install its
 * first token without anyone copying it: `<data-dir>/admin-token`, mode 600, read by the CLI.
 */
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { and, asc, eq, isNull } from "drizzle-orm";
import { apiTokens } from "../../db/schema.ts";
import type { Database } from "../store/database.ts";

/** What `tokens list` shows: never the token or its hash. */
export interface TokenInfo {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** Name of the token file in the data directory. */
export const ADMIN_TOKEN_FILE = "admin-token";
const DATA_DIR_TOKEN_NAME = "data-dir admin";
const ENV_TOKEN_NAME = "environment admin";

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export class TokenStore {
  /** lastUsedAt is written at most once a minute per token, not on every request. */
  private readonly touched = new Map<string, number>();

  constructor(
    private readonly database: Database,
    private readonly now: () => number = Date.now,
  ) {}

  /** Creates a token; the returned `token` is the only time it exists outside the caller. */
  async create(name: string): Promise<{ id: string; name: string; token: string }> {
    const token = `pf_${randomBytes(32).toString("base64url")}`;
    const id = `tok_${randomBytes(6).toString("hex")}`;
    await this.database.write((db) => db.insert(apiTokens).values({ id, name, hash: hashToken(token), createdAt: this.now() }));
    return { id, name, token };
  }

  async list(): Promise<TokenInfo[]> {
    const rows = await this.database.db.select().from(apiTokens).orderBy(asc(apiTokens.createdAt)).all();
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: iso(r.createdAt)!, lastUsedAt: iso(r.lastUsedAt), revokedAt: iso(r.revokedAt) }));
  }

  /** Revokes a token by id; false when there is no such live token. */
  async revoke(id: string): Promise<boolean> {
    return this.database.write(async (db) => {
      const row = await db
        .select()
        .from(apiTokens)
        .where(and(eq(apiTokens.id, id), isNull(apiTokens.revokedAt)))
        .get();
      if (!row) return false;
      await db.update(apiTokens).set({ revokedAt: this.now() }).where(eq(apiTokens.id, id));
      return true;
    });
  }

  /** The id of the live token `token`, or undefined. Lookup is by hash, so timing reveals nothing of the token. */
  async verify(token: string): Promise<string | undefined> {
    if (!token || token.length > 200) return undefined;
    const row = await this.database.db
      .select({ id: apiTokens.id })
      .from(apiTokens)
      .where(and(eq(apiTokens.hash, hashToken(token)), isNull(apiTokens.revokedAt)))
      .get();
    if (!row) return undefined;
    const t = this.now();
    if ((this.touched.get(row.id) ?? 0) < t - 60_000) {
      this.touched.set(row.id, t);
      await this.database.write((db) => db.update(apiTokens).set({ lastUsedAt: t }).where(eq(apiTokens.id, row.id)));
    }
    return row.id;
  }

  /**
   * The admin token in `<dataDir>/admin-token`: reused while it is live, else a new one is created
   * and written (mode 600, replaced atomically). Revoking it and restarting issues a fresh one.
   */
  async ensureAdminTokenFile(dataDir: string): Promise<string> {
    const file = path.join(dataDir, ADMIN_TOKEN_FILE);
    let existing: string | undefined;
    try {
      existing = fs.readFileSync(file, "utf8").trim();
    } catch {
      existing = undefined;
    }
    if (existing && (await this.verify(existing))) {
      fs.chmodSync(file, 0o600);
      return existing;
    }
    const { token } = await this.create(DATA_DIR_TOKEN_NAME);
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, token + "\n", { mode: 0o600 });
    fs.renameSync(tmp, file);
    return token;
  }

  /**
   * Makes `token` (PODFLEET_ADMIN_TOKEN, e.g. a Fly secret) a live admin token, so a deployment whose
   * data directory nobody can read still has a credential the operator knows. Changing the variable
   * revokes the previous environment token; revoking it through the API sticks (the same value is
   * not revived on restart; set a new one). Returns false when this value was revoked.
   *
   * Several orchestrators share one database and start at any time: this runs in one transaction
   * (BEGIN IMMEDIATE, so two of them starting at once take turns), and a value with any live row is
   * live, so orchestrators given the same value never revoke each other. Each orchestrator's
   * data-dir token (ensureAdminTokenFile) is its own row and is never touched here.
   */
  async ensureEnvAdminToken(token: string): Promise<boolean> {
    const hash = hashToken(token);
    return this.database.write((db) =>
      db.transaction(async (tx) => {
        const same = await tx.select({ revokedAt: apiTokens.revokedAt }).from(apiTokens).where(eq(apiTokens.hash, hash)).all();
        if (same.length > 0) return same.some((r) => r.revokedAt === null);
        const t = this.now();
        await tx
          .update(apiTokens)
          .set({ revokedAt: t })
          .where(and(eq(apiTokens.name, ENV_TOKEN_NAME), isNull(apiTokens.revokedAt)));
        await tx.insert(apiTokens).values({ id: `tok_${randomBytes(6).toString("hex")}`, name: ENV_TOKEN_NAME, hash, createdAt: t });
        return true;
      }),
    );
  }
}

/** The admin token stored in a data directory, if there is one. */
export function readAdminTokenFile(dataDir: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dataDir, ADMIN_TOKEN_FILE), "utf8").trim() || undefined;
  } catch {
    return undefined;
  }
}

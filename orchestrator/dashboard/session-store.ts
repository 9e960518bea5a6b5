/**
 * Dashboard sessions, kept in libSQL (`dashboard_sessions`) so they survive an orchestrator
 * restart (the page's live stream reconnects and stays signed in). The cookie carries 32 random
 * bytes; the table holds only their SHA-256, the per-session CSRF token, and the admin token the
 * operator signed in with: a session ends at logout, at its expiry, or when that token is revoked.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { and, eq, isNull, lt } from "drizzle-orm";
import { apiTokens, dashboardSessions } from "../../db/schema.ts";
import type { Database } from "../store/database.ts";

/** A session lasts this long after sign-in, however active. */
export const SESSION_TTL_MS = 12 * 3600_000;
/** lastSeenAt is written at most this often. */
const TOUCH_EVERY_MS = 60_000;

export interface Session {
  hash: string;
  tokenId: string;
  csrfToken: string;
  expiresAt: number;
}

function sha256(value: string): string {
  return createHash("sha256").update(value, "utf8").digest("hex");
}

/** Constant-time string comparison (false for different lengths). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, "utf8");
  const y = Buffer.from(b, "utf8");
  return x.length === y.length && timingSafeEqual(x, y);
}

export class SessionStore {
  constructor(
    private readonly database: Database,
    private readonly now: () => number = Date.now,
  ) {}

  /** Opens a session for a verified admin token id; returns the cookie value (shown nowhere else). */
  async open(tokenId: string): Promise<{ cookie: string; session: Session }> {
    const cookie = randomBytes(32).toString("base64url");
    const t = this.now();
    const session: Session = { hash: sha256(cookie), tokenId, csrfToken: randomBytes(24).toString("base64url"), expiresAt: t + SESSION_TTL_MS };
    await this.database.write((db) =>
      db.batch([
        // expired sessions go whenever a new one opens: the table stays small without a timer
        db.delete(dashboardSessions).where(lt(dashboardSessions.expiresAt, t)),
        db.insert(dashboardSessions).values({ ...session, createdAt: t, lastSeenAt: t }),
      ]),
    );
    return { cookie, session };
  }

  /** The live session a cookie value names, or undefined (unknown, expired, or its token revoked). */
  async find(cookie: string | undefined): Promise<Session | undefined> {
    if (!cookie || cookie.length > 100) return undefined;
    const row = await this.database.db
      .select({ s: dashboardSessions })
      .from(dashboardSessions)
      .innerJoin(apiTokens, and(eq(apiTokens.id, dashboardSessions.tokenId), isNull(apiTokens.revokedAt)))
      .where(eq(dashboardSessions.hash, sha256(cookie)))
      .get();
    const t = this.now();
    if (!row || row.s.expiresAt <= t) return undefined;
    if (t - row.s.lastSeenAt > TOUCH_EVERY_MS) {
      await this.database.write((db) => db.update(dashboardSessions).set({ lastSeenAt: t }).where(eq(dashboardSessions.hash, row.s.hash)));
    }
    return { hash: row.s.hash, tokenId: row.s.tokenId, csrfToken: row.s.csrfToken, expiresAt: row.s.expiresAt };
  }

  /** Ends a session (logout). */
  async close(session: Session): Promise<void> {
    await this.database.write((db) => db.delete(dashboardSessions).where(eq(dashboardSessions.hash, session.hash)));
  }
}

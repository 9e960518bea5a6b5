/**
 * Webhook sources and the receipts of deliveries already handled. Every write goes through
 * Database.write.
 */
import { randomBytes } from "node:crypto";
import { and, asc, eq } from "drizzle-orm";
import { sources, webhookReceipts } from "../../db/schema.ts";
import type { Database } from "../store/database.ts";
import { newSecret, type SourceScheme } from "./webhook-signature.ts";

export type SourceRow = typeof sources.$inferSelect;
export type ReceiptRow = typeof webhookReceipts.$inferSelect;

export class SourceNameTakenError extends Error {
  override name = "SourceNameTakenError";
}

export class SourceStore {
  constructor(
    private readonly database: Database,
    private readonly now: () => number = Date.now,
  ) {}

  /** Register a source with a fresh unguessable token (and secret, for signed schemes). */
  async add(input: { name: string; scheme: SourceScheme; feedUrl?: string | null; callbackUrl?: string | null }): Promise<SourceRow> {
    const row: SourceRow = {
      id: `src_${randomBytes(6).toString("hex")}`,
      name: input.name,
      token: randomBytes(24).toString("base64url"),
      scheme: input.scheme,
      secret: newSecret(input.scheme),
      feedUrl: input.feedUrl ?? null,
      callbackUrl: input.callbackUrl ?? null,
      createdAt: this.now(),
    };
    await this.database.write(async (db) => {
      const taken = await db.select().from(sources).where(eq(sources.name, input.name)).get();
      if (taken) throw new SourceNameTakenError(`a source named "${input.name}" already exists`);
      await db.insert(sources).values(row);
    });
    return row;
  }

  async list(): Promise<SourceRow[]> {
    return this.database.db.select().from(sources).orderBy(asc(sources.createdAt)).all();
  }

  async byToken(token: string): Promise<SourceRow | undefined> {
    return this.database.db.select().from(sources).where(eq(sources.token, token)).get();
  }

  /** Remove by id or name; returns whether one existed. */
  async remove(idOrName: string): Promise<boolean> {
    return this.database.write(async (db) => {
      const row =
        (await db.select().from(sources).where(eq(sources.id, idOrName)).get()) ??
        (await db.select().from(sources).where(eq(sources.name, idOrName)).get());
      if (!row) return false;
      await db.batch([db.delete(webhookReceipts).where(eq(webhookReceipts.sourceId, row.id)), db.delete(sources).where(eq(sources.id, row.id))]);
      return true;
    });
  }

  async receipt(sourceId: string, deliveryId: string): Promise<ReceiptRow | undefined> {
    return this.database.db
      .select()
      .from(webhookReceipts)
      .where(and(eq(webhookReceipts.sourceId, sourceId), eq(webhookReceipts.deliveryId, deliveryId)))
      .get();
  }

  /** Record a handled delivery. Returns the earlier receipt when the same delivery won a race. */
  async recordReceipt(input: Omit<ReceiptRow, "receivedAt">): Promise<ReceiptRow | undefined> {
    return this.database.write(async (db) => {
      const earlier = await db
        .select()
        .from(webhookReceipts)
        .where(and(eq(webhookReceipts.sourceId, input.sourceId), eq(webhookReceipts.deliveryId, input.deliveryId)))
        .get();
      if (earlier) return earlier;
      await db.insert(webhookReceipts).values({ ...input, receivedAt: this.now() });
      return undefined;
    });
  }
}

/**
 * The statements of EpisodeStore.applyEvents, the orchestrator's hottest write, sent to libSQL
 * without drizzle's query builder: read a pull batch's chunk rows in one select, write the changed
 * ones back in one update. Same SQL as the builder would make for it, minus its per-parameter work
 * (a batch of 100 events binds ~1,400 values); the texts are built once per row count and the rows
 * are mapped with the schema's own columns (db/schema.ts), so a column added there is read here too.
 */
import type { InValue, Transaction } from "@libsql/client";
import { getTableColumns, getTableName } from "drizzle-orm";
import { chunks } from "../../db/schema.ts";
import { EVENT_COLUMNS } from "./chunk-event-effect.ts";
import type { ChunkRow } from "./episode-store.ts";

type ChunkColumn = ReturnType<typeof getTableColumns<typeof chunks>>[keyof ChunkRow];

/** Every column of the chunks table, in the schema's order (how drizzle selects and maps them). */
const COLUMNS = Object.entries(getTableColumns(chunks)) as Array<[keyof ChunkRow, ChunkColumn]>;
const SELECT_LIST = COLUMNS.map(([, c]) => quote(c.name)).join(", ");
const TABLE = quote(getTableName(chunks));
const ID = quote(chunks.id.name);

/** `update … from (values …)`: each row's id, then EVENT_COLUMNS in order (column1 is the id). */
const SET_LIST = EVENT_COLUMNS.map((key, i) => `${quote(chunks[key].name)} = v.column${i + 2}`).join(", ");

/** Statement texts by row count (batches come in a few sizes up to the events pull batch). */
const selectTexts = new Map<number, string>();
const updateTexts = new Map<number, string>();
const MAX_CACHED_TEXTS = 256;

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function textFor(cache: Map<number, string>, n: number, build: (n: number) => string): string {
  let text = cache.get(n);
  if (text === undefined) {
    text = build(n);
    if (cache.size < MAX_CACHED_TEXTS) cache.set(n, text);
  }
  return text;
}

/** The rows of chunks `ids` (those that exist), mapped as drizzle's `select().from(chunks)` maps them. */
export async function readChunkRows(tx: Transaction, ids: readonly string[]): Promise<ChunkRow[]> {
  if (ids.length === 0) return [];
  const sql = textFor(selectTexts, ids.length, (n) => `select ${SELECT_LIST} from ${TABLE} where ${ID} in (${Array(n).fill("?").join(", ")})`);
  const result = await tx.execute({ sql, args: ids as string[] });
  return result.rows.map((r) => {
    const row: Record<string, unknown> = {};
    for (let i = 0; i < COLUMNS.length; i++) {
      const [key, column] = COLUMNS[i]!;
      const value = r[i];
      row[key] = value === null || value === undefined ? null : column.mapFromDriverValue(value);
    }
    return row as ChunkRow;
  });
}

/** Writes EVENT_COLUMNS of each row to the stored chunk with its id, in one statement. */
export async function writeEventColumns(tx: Transaction, rows: readonly ChunkRow[]): Promise<void> {
  if (rows.length === 0) return;
  const width = EVENT_COLUMNS.length + 1;
  const sql = textFor(updateTexts, rows.length, (n) => {
    const tuple = `(${Array(width).fill("?").join(", ")})`;
    return `update ${TABLE} set ${SET_LIST} from (values ${Array(n).fill(tuple).join(", ")}) as v where ${TABLE}.${ID} = v.column1`;
  });
  const args: InValue[] = new Array<InValue>(rows.length * width);
  let at = 0;
  for (const row of rows) {
    args[at++] = row.id;
    for (const key of EVENT_COLUMNS) {
      const value = row[key];
      args[at++] = value === null ? null : (chunks[key].mapToDriverValue(value) as InValue);
    }
  }
  await tx.execute({ sql, args });
}

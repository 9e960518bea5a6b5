/**
 * The tail of a local machine's log (`<data-dir>/logs/machines/<id>.log`, written by the local
 * runtime), for the episode page's failures. Only the last few KiB are read; machine ids are
 * checked before they become a path, and registered secrets are redacted.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { redact } from "../log.ts";

const TAIL_BYTES = 4096;
const MACHINE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The last lines of the machine's log, or null when there is none (or the id is not a machine id). */
export async function readLogTail(logDir: string, machineId: string, maxBytes = TAIL_BYTES): Promise<string | null> {
  if (!MACHINE_ID.test(machineId)) return null;
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(path.join(logDir, `${machineId}.log`), "r");
    const { size } = await handle.stat();
    const start = Math.max(0, size - maxBytes);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    let text = buffer.toString("utf8");
    // a cut in the middle of a line (or of a UTF-8 sequence) starts at the next full line
    if (start > 0) text = text.slice(text.indexOf("\n") + 1);
    return redact(text.trimEnd());
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  } finally {
    await handle?.close();
  }
}

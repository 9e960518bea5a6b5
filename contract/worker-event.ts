/**
 * Parsing a worker event as the orchestrator receives it (wire.ts `WorkerEvent`), with the same
 * result as `WorkerEvent.parse` and less work for the part that is most of its bytes: a result's
 * words (a minute of speech is ~150). The schema checks each word as an object of its own; here
 * they are checked and copied in one loop, and the schema sees the rest of the event. A word list
 * that fails the loop's check (or anything unusual in it) goes through the schema whole, so what is
 * accepted, what it becomes and what an error says stay the schema's.
 */
import { WorkerEvent, type Word } from "./wire.ts";

/** `WorkerEvent.parse(value)`: the same output (key order included) and the same errors, faster for a result's words. */
export function parseWorkerEvent(value: unknown): WorkerEvent {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return WorkerEvent.parse(value);
  const fields = value as Record<string, unknown>;
  if (fields.type !== "result" || !Array.isArray(fields.words)) return WorkerEvent.parse(value);
  const words = copyWords(fields.words);
  if (words === undefined) return WorkerEvent.parse(value);
  // an empty list holds the words' place (and satisfies "exactly one of resultObject and words")
  const event = WorkerEvent.parse({ ...fields, words: [] });
  if (event.type !== "result" || event.words === undefined) throw new TypeError("a result event lost its words while parsing");
  event.words = words;
  return event;
}

/**
 * The words as the schema's `z.array(Word)` outputs them (new objects: text, start, end, then
 * confidence when present; other keys dropped), or undefined when any word is not exactly what
 * `Word` accepts without help: then the schema decides, and names the problem.
 */
export function copyWords(list: readonly unknown[]): Word[] | undefined {
  const out: Word[] = new Array<Word>(list.length);
  for (let i = 0; i < list.length; i++) {
    const w = list[i];
    if (typeof w !== "object" || w === null || Array.isArray(w)) return undefined;
    const { text, start, end, confidence } = w as Record<string, unknown>;
    if (typeof text !== "string" || text.length === 0) return undefined;
    if (!isNonNegative(start) || !isNonNegative(end)) return undefined;
    if (confidence === undefined) {
      // a key that is present but undefined (not from JSON) is the schema's to judge
      if ("confidence" in w) return undefined;
      out[i] = { text, start, end };
    } else {
      if (!isNonNegative(confidence) || confidence > 1) return undefined;
      out[i] = { text, start, end, confidence };
    }
  }
  return out;
}

/** A finite number ≥ 0: `z.number().nonnegative()` (zod's numbers are finite). */
function isNonNegative(n: unknown): n is number {
  return typeof n === "number" && n >= 0 && n !== Infinity;
}

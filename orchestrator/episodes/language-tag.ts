/**
 * Language codes as feeds, webhooks and API callers spell them (`de-DE`, `en-us`, `DE`, `en_GB`),
 * reduced to one canonical BCP 47 tag for the episode and its transcripts (engines take its
 * primary subtag: contract/wire.ts primaryLanguage). Anything
 * that is not shaped like a tag (`German`, `12`, `en--us`) is refused rather than guessed at.
 */
import { z } from "zod";

/** The tag an episode gets when nobody says otherwise (the schema's default). */
export const DEFAULT_LANGUAGE = "en";

/** Longest tag we accept: longer ones are not language codes a podcast host would send. */
const MAX_TAG_CHARS = 35;

/**
 * The canonical BCP 47 form of `raw` (primary subtag lower case, a 4-letter script title case,
 * a 2-letter or 3-digit region upper case, everything else lower case), or undefined when `raw`
 * is not a language tag. Underscores count as hyphens (`en_US` is common in feeds).
 */
export function normalizeLanguageTag(raw: string | null | undefined): string | undefined {
  if (typeof raw !== "string") return undefined;
  const text = raw.trim().replace(/_/g, "-");
  if (text === "" || text.length > MAX_TAG_CHARS) return undefined;
  const parts = text.split("-");
  const [primary, ...rest] = parts;
  if (!primary || !/^[A-Za-z]{2,3}$/.test(primary)) return undefined;
  if (!rest.every((p) => /^[A-Za-z0-9]{1,8}$/.test(p))) return undefined;
  return [
    primary.toLowerCase(),
    ...rest.map((p, i) => {
      if (i === 0 && /^[A-Za-z]{4}$/.test(p)) return p[0]!.toUpperCase() + p.slice(1).toLowerCase();
      if ((i === 0 || i === 1) && (/^[A-Za-z]{2}$/.test(p) || /^\d{3}$/.test(p))) return p.toUpperCase();
      return p.toLowerCase();
    }),
  ].join("-");
}

/** A request field holding a language tag: refused with a clear message when it is not one, canonical when it is. */
export const languageTagField = z
  .string()
  .max(MAX_TAG_CHARS)
  .refine((v) => normalizeLanguageTag(v) !== undefined, "must be a language tag such as de or en-US")
  .transform((v) => normalizeLanguageTag(v)!);

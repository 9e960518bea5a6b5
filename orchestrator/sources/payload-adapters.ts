/**
 * Turns a host's webhook body into one shape: "this episode was published, here is its audio".
 * Supported, recognised by shape:
 * - Transistor: `{event_name: "episode_published", data: {id, type: "episode", attributes:
 *   {title, media_url, audio_processing, ...}}}` (JSON:API). While `audio_processing` is true
 *   the audio is not final, so the hint is held back.
 * - Acast: `{event: "episodePublished", audioUrl, title?, id?}` (fields also accepted under
 *   `data` or `episode`).
 * - Generic: `{audioUrl, title?, guid?, feedUrl?, language?}`.
 * Any of them may carry `language` (a BCP 47 tag such as `de` or `en-US`; anything else is
 * malformed). Media URLs must be absolute: a webhook has no document to resolve a relative one
 * against (the feed is another resource), so a relative URL is refused with the field's name.
 * Other events from a recognised host are ignored (202, no job); anything else is malformed.
 */
import { z } from "zod";
import { languageTagField } from "../episodes/language-tag.ts";

export interface PublishedEpisode {
  host: "transistor" | "acast" | "generic";
  audioUrl: string | undefined;
  title: string | undefined;
  guid: string | undefined;
  feedUrl: string | undefined;
  /** Canonical BCP 47 tag, when the payload names one. */
  language: string | undefined;
}

export type AdaptedPayload =
  | { kind: "publish"; episode: PublishedEpisode }
  /** Recognised, but not something to transcribe (another event, audio still processing). */
  | { kind: "ignore"; host: PublishedEpisode["host"]; reason: string };

/** The body is not a payload we understand: HTTP 400. */
export class PayloadError extends Error {
  override name = "PayloadError";
}

const httpUrl = z.url({ protocol: /^https?$/ }).max(4096);
const optText = z.string().max(1000).optional();
const optLanguage = languageTagField.optional();

const Transistor = z.object({
  event_name: z.string(),
  data: z.object({
    id: z.union([z.string(), z.number()]).optional(),
    type: z.string().optional(),
    attributes: z.looseObject({
      title: optText,
      media_url: httpUrl.optional().nullable(),
      audio_processing: z.boolean().optional(),
      guid: optText,
      language: optLanguage,
    }),
  }),
});

const AcastFields = z.looseObject({
  audioUrl: httpUrl.optional(),
  title: optText,
  id: z.union([z.string(), z.number()]).optional(),
  guid: optText,
  language: optLanguage,
});
const Acast = z
  .looseObject({
    event: z.string(),
    data: AcastFields.optional(),
    episode: AcastFields.optional(),
  })
  .and(AcastFields);

const Generic = z.object({ audioUrl: httpUrl, title: optText, guid: optText, feedUrl: httpUrl.optional(), language: optLanguage });

function issue(error: z.ZodError): string {
  const first = error.issues[0]!;
  return `${first.path.join(".") || "body"}: ${first.message}`;
}

/** Adapt a parsed JSON body. Throws PayloadError when the shape is unknown or invalid. */
export function adaptPayload(body: unknown): AdaptedPayload {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new PayloadError("payload must be a JSON object");
  const obj = body as Record<string, unknown>;

  if ("event_name" in obj) {
    const parsed = Transistor.safeParse(obj);
    if (!parsed.success) throw new PayloadError(`not a Transistor episode event: ${issue(parsed.error)}`);
    const { event_name, data } = parsed.data;
    if (event_name !== "episode_published") return { kind: "ignore", host: "transistor", reason: `event ${event_name}` };
    const a = data.attributes;
    if (a.audio_processing) return { kind: "ignore", host: "transistor", reason: "audio_processing" };
    if (!a.media_url) throw new PayloadError("Transistor episode has no data.attributes.media_url");
    return {
      kind: "publish",
      episode: { host: "transistor", audioUrl: a.media_url, title: a.title, guid: a.guid, feedUrl: undefined, language: a.language },
    };
  }

  if ("event" in obj) {
    const parsed = Acast.safeParse(obj);
    if (!parsed.success) throw new PayloadError(`not an Acast episode event: ${issue(parsed.error)}`);
    const p = parsed.data;
    if (p.event !== "episodePublished") return { kind: "ignore", host: "acast", reason: `event ${p.event}` };
    const fields = { ...p.episode, ...p.data, ...p };
    if (!fields.audioUrl) throw new PayloadError("Acast episodePublished has no audioUrl");
    return {
      kind: "publish",
      episode: { host: "acast", audioUrl: fields.audioUrl, title: fields.title, guid: fields.guid, feedUrl: undefined, language: fields.language },
    };
  }

  const parsed = Generic.safeParse(obj);
  if (!parsed.success) throw new PayloadError(`expected {audioUrl, title?, guid?, feedUrl?, language?}: ${issue(parsed.error)}`);
  const g = parsed.data;
  return {
    kind: "publish",
    episode: { host: "generic", audioUrl: g.audioUrl, title: g.title, guid: g.guid, feedUrl: g.feedUrl, language: g.language },
  };
}

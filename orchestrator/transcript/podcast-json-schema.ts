/**
 * Schema of the Podcasting 2.0 JSON transcript format (`<podcast:transcript type="application/json">`):
 * `{ version: "1.0.0", language?, segments: [{ speaker?, startTime, endTime, body }] }` with times in seconds.
 * Used by tests to check what we render, and by anything that must validate a transcript it reads.
 */
import { z } from "zod";

/** One timed piece of text. `endTime` is never before `startTime`. */
export const PodcastTranscriptSegment = z
  .object({
    speaker: z.string().min(1).optional(),
    startTime: z.number().finite().nonnegative(),
    endTime: z.number().finite().nonnegative(),
    body: z.string(),
  })
  .refine((s) => s.endTime >= s.startTime, { message: "endTime is before startTime" });
export type PodcastTranscriptSegment = z.infer<typeof PodcastTranscriptSegment>;

/** A whole transcript; segments are in time order (each starts no earlier than the one before). */
export const PodcastTranscriptJson = z
  .object({
    version: z.literal("1.0.0"),
    /** BCP 47 tag of the transcript (podfleet writes it; the format's own fields are version and segments). */
    language: z.string().min(2).optional(),
    segments: z.array(PodcastTranscriptSegment),
  })
  .refine((t) => t.segments.every((s, i) => i === 0 || s.startTime >= t.segments[i - 1]!.startTime), {
    message: "segments are not in time order",
  });
export type PodcastTranscriptJson = z.infer<typeof PodcastTranscriptJson>;

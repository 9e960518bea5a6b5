/**
 * Errors of the ingest pipeline. A BadInputError is the submitter's to fix (not audio, too big,
 * unreachable URL): the episode fails with its message. Anything else is ours and is retried on
 * the next start.
 */
export type BadInputCode =
  | "bad_url"
  | "credentials_in_url"
  | "private_address"
  | "fetch_failed"
  | "fetch_timeout"
  | "too_many_redirects"
  | "too_large"
  | "stalled"
  | "empty_file"
  | "not_audio"
  | "decode_failed";

export class BadInputError extends Error {
  override name = "BadInputError";
  constructor(
    readonly code: BadInputCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

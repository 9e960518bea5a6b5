/**
 * What a user-supplied URL must look like before anything fetches, logs or stores it: http or
 * https, no user name or password in it, and (unless the operator allowed private targets) no
 * literal private address or localhost. Names are checked again on their resolved addresses at
 * connect time (guarded-agent.ts); this is the part that needs no network.
 */
import { BadInputError } from "../ingest/ingest-errors.ts";
import { isBlockedAddress } from "./address-policy.ts";

/** Which addresses count as private; tests narrow it to reach a server on 127.0.0.1. */
export type AddressCheck = (address: string) => boolean;

/**
 * Parses and checks `raw`; throws BadInputError (bad_url, credentials_in_url, private_address).
 * Messages never repeat a user name or password.
 */
export function checkUrl(raw: string, allowPrivate: boolean, isBlocked: AddressCheck = isBlockedAddress): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Echo it to help the submitter, unless it may hold user info the parser could not delimit.
    throw new BadInputError("bad_url", raw.includes("@") ? "not a valid URL" : `not a valid URL: ${raw.slice(0, 200)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new BadInputError("bad_url", `only http and https URLs can be fetched, not ${url.protocol}`);
  }
  // Refused rather than stripped: a URL that needs them would fail anyway, and a stored or logged
  // URL (episode source, feed, callback, finalUrl) must never carry a password.
  if (url.username !== "" || url.password !== "") {
    throw new BadInputError(
      "credentials_in_url",
      `URLs with a user name or password (user:pass@) are refused; remove them from the URL of ${url.host}`,
    );
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (!allowPrivate && (isIpLiteral(host) ? isBlocked(host) : /^localhost\.?$|\.localhost\.?$/i.test(host))) {
    throw new BadInputError(
      "private_address",
      `refusing to fetch ${url.host}: private and loopback addresses are not allowed (set PODFLEET_ALLOW_PRIVATE_URLS=1 to allow)`,
    );
  }
  return url;
}

/** True for the host part of a parsed URL that is an address rather than a name. */
export function isIpLiteral(host: string): boolean {
  // The URL parser has already turned 0x7f000001, 127.1 and friends into dotted quads.
  return host.includes(":") || /^\d{1,3}(\.\d{1,3}){3}$/.test(host);
}

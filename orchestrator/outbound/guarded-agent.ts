/**
 * An undici Agent whose every connection is checked against the address policy at connect time,
 * on every hop: a name is checked on all the addresses DNS gives for it (so DNS rebinding cannot
 * slip past a check made earlier), an IP literal before any packet is sent, and the socket's
 * remote address once connected. Each fetch gets its own agent and closes it, so no socket of
 * one user's URL is reused for another's.
 */
import dns from "node:dns";
import net from "node:net";
import { Agent, buildConnector } from "undici";
import { BadInputError } from "../ingest/ingest-errors.ts";
import { isBlockedAddress } from "./address-policy.ts";
import type { AddressCheck } from "./url-policy.ts";

export interface AddressPolicy {
  /** The operator's PODFLEET_ALLOW_PRIVATE_URLS: no address checks at all. */
  allowPrivate: boolean;
  /** Which addresses count as private (default isBlockedAddress); tests narrow it to reach 127.0.0.1. */
  isBlocked?: AddressCheck;
}

export interface GuardedAgentOptions extends AddressPolicy {
  connectTimeoutMs: number;
  /** Longest wait for the response headers. */
  headersTimeoutMs: number;
  /** Longest silence between two body chunks. */
  bodyTimeoutMs: number;
}

function refused(host: string): BadInputError {
  return new BadInputError(
    "private_address",
    `refusing to fetch ${host}: it resolves to a private or loopback address (set PODFLEET_ALLOW_PRIVATE_URLS=1 to allow)`,
  );
}

/** A DNS lookup that refuses a name when any address it resolves to is private (for net/tls connect). */
export function guardedLookup(allowPrivate: boolean, isBlocked: AddressCheck = isBlockedAddress): net.LookupFunction {
  return (hostname, options, callback) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, "", 4);
      const list = addresses;
      if (!allowPrivate && list.some((a) => isBlocked(a.address))) return callback(refused(hostname), "", 4);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      const first = list[0]!;
      callback(null, first.address, first.family);
    });
  };
}

/** An undici connector applying the policy to IP literals (which skip DNS) and to the connected peer. */
export function guardedConnector(policy: AddressPolicy, connectTimeoutMs: number): buildConnector.connector {
  const isBlocked = policy.isBlocked ?? isBlockedAddress;
  const connect = buildConnector({ timeout: connectTimeoutMs, lookup: guardedLookup(policy.allowPrivate, isBlocked) });
  return (opts, callback) => {
    const host = opts.hostname.replace(/^\[|\]$/g, "");
    if (!policy.allowPrivate && net.isIP(host) !== 0 && isBlocked(host)) {
      callback(refused(opts.host ?? host), null);
      return;
    }
    connect(opts, (err, socket) => {
      if (err !== null) return callback(err, null);
      const remote = socket.remoteAddress;
      if (!policy.allowPrivate && (remote === undefined || isBlocked(remote))) {
        socket.destroy();
        return callback(refused(opts.host ?? host), null);
      }
      callback(null, socket);
    });
  };
}

/** One agent for one fetch (its redirects included); close it when done. */
export function createGuardedAgent(opts: GuardedAgentOptions): Agent {
  return new Agent({
    connect: guardedConnector(opts, opts.connectTimeoutMs),
    headersTimeout: opts.headersTimeoutMs,
    bodyTimeout: opts.bodyTimeoutMs,
  });
}

/**
 * Which client a request comes from, for per-client limits (PODFLEET_TRUST_PROXY).
 *
 * - `none` (default): the socket's peer address. Forwarding headers are ignored, since any client
 *   can send them.
 * - `fly`: Fly's proxy puts the address it accepted the connection from in `Fly-Client-IP`; every
 *   public request to a Fly app passes that proxy, so the header is the client. Requests without
 *   it (over Fly's private network) use the socket address.
 * - a list of CIDRs (`10.0.0.0/8,fd00::/8`): when the socket peer is one of these proxies, the
 *   client is the right-most `X-Forwarded-For` entry that is not: each trusted proxy appends the
 *   address it saw, so entries left of the first untrusted one are the client's own word.
 */
import { getConnInfo } from "@hono/node-server/conninfo";
import type { Context } from "hono";
import ipaddr from "ipaddr.js";

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

export type TrustProxy = { readonly kind: "none" } | { readonly kind: "fly" } | { readonly kind: "cidrs"; readonly ranges: readonly Range[] };

/** Parses PODFLEET_TRUST_PROXY; throws an Error saying what is wrong. */
export function parseTrustProxy(value: string): TrustProxy {
  const v = value.trim();
  if (v === "none") return { kind: "none" };
  if (v === "fly") return { kind: "fly" };
  const ranges = v.split(",").map((item): Range => {
    const s = item.trim();
    try {
      if (s.includes("/")) return ipaddr.parseCIDR(s);
      const addr = ipaddr.parse(s);
      return [addr, addr.kind() === "ipv4" ? 32 : 128];
    } catch {
      throw new Error(`"${s}" is not an IP address or CIDR range (use none, fly, or a comma-separated list of CIDRs)`);
    }
  });
  return { kind: "cidrs", ranges };
}

/** An address in canonical form (IPv4-mapped IPv6 as IPv4), or undefined when it is not one; a port is dropped. */
function canonical(text: string | undefined): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (!text) return undefined;
  const s = text.trim();
  const bare = /^\[([^\]]+)\](:\d+)?$/.exec(s)?.[1] ?? /^(\d{1,3}(\.\d{1,3}){3}):\d+$/.exec(s)?.[1] ?? s;
  try {
    return ipaddr.process(bare);
  } catch {
    return undefined;
  }
}

function trusted(addr: ipaddr.IPv4 | ipaddr.IPv6, ranges: readonly Range[]): boolean {
  return ranges.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits));
}

function socketAddress(c: Context): string | undefined {
  try {
    return getConnInfo(c).remote.address;
  } catch {
    return undefined; // app.request() in tests has no socket
  }
}

/** A function giving each request's client address under `trust`; "local" when there is none (in-process requests). */
export function clientAddressFor(trust: TrustProxy): (c: Context) => string {
  return (c) => {
    const raw = socketAddress(c);
    const peer = canonical(raw);
    const fallback = peer?.toString() ?? raw ?? "local";
    if (trust.kind === "none") return fallback;
    if (trust.kind === "fly") return canonical(c.req.header("fly-client-ip"))?.toString() ?? fallback;
    if (!peer || !trusted(peer, trust.ranges)) return fallback;
    const hops = (c.req.header("x-forwarded-for") ?? "")
      .split(",")
      .map((h) => h.trim())
      .filter(Boolean);
    let client = fallback;
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = canonical(hops[i]);
      client = hop?.toString() ?? hops[i]!;
      if (!hop || !trusted(hop, trust.ranges)) break;
    }
    return client;
  };
}

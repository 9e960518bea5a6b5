/**
 * Which IP addresses a user-supplied URL may reach: only globally routable unicast. The ranges
 * come from ipaddr.js (a maintained list of IANA special-purpose blocks), not from a list kept
 * here; only `range() === "unicast"` passes. Where ipaddr.js says "unicast" for something that
 * is not globally routable, or an IPv6 address carries an IPv4 one inside, the rules below say
 * what happens and why.
 */
import ipaddr from "ipaddr.js";

/** IANA hands out global unicast IPv6 only from 2000::/3; anything else "unicast" to ipaddr.js is not routable. */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");
/** NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 address a NAT64 gateway reaches. */
const NAT64_WELL_KNOWN = ipaddr.parseCIDR("64:ff9b::/96");

/** True when `address` (an IP literal, optionally in brackets) must not be fetched; anything unparseable is blocked. */
export function isBlockedAddress(address: string): boolean {
  return addressClass(address) !== "public";
}

/**
 * The ipaddr.js range name of an address, or "public" for the one class that may be fetched.
 * Exported for tests and error messages; decisions use isBlockedAddress.
 */
export function addressClass(address: string): string {
  const literal = address.replace(/^\[(.*)\]$/, "$1");
  // A zone id (fe80::1%eth0) names an interface: only link-local addresses carry one.
  if (literal.includes("%")) return "zoned";
  const text = literal.includes(":") ? canonicalV6(literal) : literal;
  if (text === undefined || !ipaddr.isValid(text)) return "invalid";
  const parsed = ipaddr.parse(text);
  return parsed.kind() === "ipv4" ? classifyV4(parsed as ipaddr.IPv4) : classifyV6(parsed as ipaddr.IPv6);
}

/**
 * The WHATWG URL form of an IPv6 literal (hex groups only). ipaddr.js reads any dotted tail as
 * IPv4-mapped, so "::8.8.8.8" (IPv4-compatible) would pass as 8.8.8.8; the URL parser keeps it
 * ::808:808, which is what a socket would connect to.
 */
function canonicalV6(literal: string): string | undefined {
  try {
    return new URL(`http://[${literal}]/`).hostname.slice(1, -1);
  } catch {
    return undefined;
  }
}

function classifyV4(ip: ipaddr.IPv4): string {
  // ipaddr.js names 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.0.0/24, the
  // documentation nets, 192.88.99/24 (6to4 relays), 192.168/16, 198.18/15, 224/4, 240/4 and
  // 255.255.255.255; whatever it calls "unicast" is routable on the internet.
  const range = ip.range();
  return range === "unicast" ? "public" : range;
}

function classifyV6(ip: ipaddr.IPv6): string {
  const range = ip.range();
  // ::ffff:a.b.c.d is how a dual-stack socket reaches the IPv4 address a.b.c.d: judge that address.
  if (range === "ipv4Mapped") return classifyV4(ip.toIPv4Address());
  // 64:ff9b::a.b.c.d reaches a.b.c.d through a NAT64 gateway. On an IPv6-only network with DNS64,
  // every IPv4-only podcast host resolves to such an address, so refusing the prefix outright would
  // make those hosts unreachable; judging the embedded address refuses 64:ff9b::7f00:1 (loopback)
  // and 64:ff9b::a9fe:a9fe (the metadata address) while public hosts stay reachable.
  if (ip.match(NAT64_WELL_KNOWN)) {
    const embedded = classifyV4(ipaddr.fromByteArray(ip.toByteArray().slice(12)) as ipaddr.IPv4);
    return embedded === "public" ? "public" : `nat64-${embedded}`;
  }
  // Refused whole, with no look at what they embed:
  // - rfc6052 beyond the /96 (64:ff9b:1::/48, RFC 8215): a local-use NAT64 prefix whose length the
  //   local operator picks, so where the IPv4 address sits cannot be known from here;
  // - 6to4 (2002::/16) and Teredo (2001::/32): deprecated transition tunnels (RFC 7526, and Teredo
  //   servers are gone) that embed an IPv4 address a relay would reach; no real host needs them;
  // - deprecatedSiteLocal (fec0::/10), uniqueLocal (fc00::/7), linkLocal, loopback, unspecified,
  //   multicast, discard, reserved (2001:db8::/32 documentation, 2001::/23), benchmarking, orchid…
  if (range !== "unicast") return range;
  // ipaddr.js calls every unlisted address "unicast", including IPv4-compatible ::a.b.c.d
  // (deprecated by RFC 4291; ::7f00:1 is how a URL writes [::127.0.0.1]) and unallocated space.
  if (!ip.match(GLOBAL_UNICAST_V6))
    return ip
      .toByteArray()
      .slice(0, 12)
      .every((b) => b === 0)
      ? "ipv4Compatible"
      : "unallocated";
  return "public";
}

/**
 * A NATS server list as the orchestrator and the workers take it: one URL, or several separated by
 * commas (`nats://h1:4222,nats://h2:4222,nats://h3:4222`, the servers of one cluster). The NATS
 * client wants an array (a comma string would be one bad URL to it), so both sides split it here
 * and check every entry, naming the one that is wrong. Pure: no I/O, imported by both.
 */

/** One entry: scheme optional (nats:// is assumed), host or [IPv6], optional port, optional user:pass@. */
const SERVER_RE = /^((nats|tls|ws|wss):\/\/)?([^\s/@]+@)?(\[[0-9a-fA-F:.]+\]|[^\s/:@[\],]+)(:\d{1,5})?\/?$/;

/** An entry of a server list that is not a NATS URL; `entry` is what was given (credentials cut). */
export class NatsServerListError extends Error {
  override readonly name = "NatsServerListError";
  constructor(
    readonly entry: string,
    readonly position: number,
    message: string,
  ) {
    super(message);
  }
}

/** The entry without any `user:pass@`, so an error message never carries a secret. */
function withoutCredentials(entry: string): string {
  return entry.replace(/^((?:[a-z]+:\/\/)?)[^\s/@]*@/, "$1***@");
}

/**
 * Splits and checks a server list. Blank entries (a trailing comma, spaces) are refused like any
 * other bad entry, and so are duplicates: either is a typo an operator wants to hear about.
 */
export function parseNatsServers(value: string): string[] {
  const parts = value.split(",").map((p) => p.trim());
  const seen = new Set<string>();
  return parts.map((part, i) => {
    const shown = withoutCredentials(part);
    if (part === "") throw new NatsServerListError(part, i + 1, `entry ${i + 1} is empty (check for a stray comma)`);
    if (!SERVER_RE.test(part)) {
      throw new NatsServerListError(shown, i + 1, `entry ${i + 1} "${shown}" is not a NATS server URL such as nats://host:4222`);
    }
    const port = /:(\d+)\/?$/.exec(part.replace(/^[a-z]+:\/\//, ""))?.[1];
    if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
      throw new NatsServerListError(shown, i + 1, `entry ${i + 1} "${shown}" has port ${port}, outside 1-65535`);
    }
    if (seen.has(part)) throw new NatsServerListError(shown, i + 1, `entry ${i + 1} "${shown}" is listed twice`);
    seen.add(part);
    return part;
  });
}

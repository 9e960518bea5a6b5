/**
 * Who this orchestrator process is, among the orchestrators that share one database and one NATS:
 * the holder named in the leader lease and the owner named in work claims. A fresh id per start,
 * so a restarted process never mistakes a claim or a lease of its previous life for its own.
 */
import { randomBytes } from "node:crypto";
import os from "node:os";

/** `or_<host>_<12 hex>`: the host part is for people reading `fleet show`; the random part makes it unique. */
export function newInstanceId(): string {
  const host =
    os
      .hostname()
      .replace(/[^A-Za-z0-9-]/g, "")
      .slice(0, 24) || "host";
  return `or_${host}_${randomBytes(6).toString("hex")}`;
}

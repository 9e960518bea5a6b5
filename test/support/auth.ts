/**
 * Admin tokens for tests: helpers remember each orchestrator's token by its URL (from the
 * Orchestrator handle, or from `<data-dir>/admin-token` for a `podfleet up` child), and request
 * helpers send it. Tests of the authentication rules themselves use plain fetch.
 */
import { readAdminTokenFile } from "../../orchestrator/auth/token-store.ts";

const tokens = new Map<string, string>();

/** Remember the admin token of the orchestrator at `url`. */
export function rememberToken(url: string, token: string): void {
  tokens.set(new URL(url).origin, token);
}

/** Remember the token a `podfleet up` on `dataDir` wrote there; returns it. */
export function rememberDataDirToken(url: string, dataDir: string): string {
  const token = readAdminTokenFile(dataDir);
  if (!token) throw new Error(`no admin-token in ${dataDir}`);
  rememberToken(url, token);
  return token;
}

/** `{authorization: "Bearer …"}` for the orchestrator serving `url`, or nothing if none is known. */
export function authHeaders(url: string | URL): Record<string, string> {
  const token = tokens.get(new URL(url).origin);
  return token ? { authorization: `Bearer ${token}` } : {};
}

/**
 * Who may connect to NATS, and as whom.
 *
 * The embedded nats-server has two users: the orchestrator (everything) and the workers (only
 * workerPermissions() from contract/wire.ts). Their passwords are generated on first start and kept
 * in `<data-dir>/nats-credentials.json` (mode 600) so that a restart, and workers that outlive it,
 * keep working; NATS_TOKEN, when set, is the orchestrator's password instead of a generated one.
 *
 * With an external NATS (NATS_URL) the operator owns the accounts: the orchestrator connects with
 * NATS_USER/NATS_PASSWORD or NATS_TOKEN, workers get PODFLEET_WORKER_NATS_USER/PASSWORD (an account
 * configured with the permissions `podfleet nats permissions` prints), or, if those are not set,
 * the orchestrator's own credentials — which works, but gives every worker full access, so the
 * orchestrator warns about it at start.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { WORKER_ENV, workerPermissions, type WireNames } from "../../contract/wire.ts";
import { authorizationConfig, type NatsUser } from "./nats-server.ts";

/** How one client authenticates: a user and password, a token, or nothing (an open server). */
export type NatsAuth = { readonly user: string; readonly password: string } | { readonly token: string } | Record<string, never>;

export const NATS_CREDENTIALS_FILE = "nats-credentials.json";
const ORCHESTRATOR_USER = "podfleet-orchestrator";
const WORKER_USER = "podfleet-worker";

const StoredCredentials = z.object({ v: z.literal(1), orchestratorPassword: z.string().min(16), workerPassword: z.string().min(16) });

export interface EmbeddedNatsCredentials {
  readonly orchestrator: { readonly user: string; readonly password: string };
  readonly worker: { readonly user: string; readonly password: string };
  /** The users block for startNatsServer(). */
  readonly users: readonly NatsUser[];
}

function newPassword(): string {
  return randomBytes(24).toString("base64url");
}

/** Reads (or creates, mode 600) the embedded server's credentials; `orchestratorPassword` (NATS_TOKEN) overrides the stored one. */
export function ensureEmbeddedNatsCredentials(dataDir: string, names: WireNames, orchestratorPassword?: string): EmbeddedNatsCredentials {
  const file = path.join(dataDir, NATS_CREDENTIALS_FILE);
  let stored: z.infer<typeof StoredCredentials> | undefined;
  try {
    stored = StoredCredentials.parse(JSON.parse(fs.readFileSync(file, "utf8")));
  } catch {
    // missing, unreadable or damaged: new passwords (a worker still holding old ones fails to reconnect and idles out)
    stored = undefined;
  }
  if (!stored) {
    stored = { v: 1, orchestratorPassword: newPassword(), workerPassword: newPassword() };
    const tmp = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(stored), { mode: 0o600 });
    fs.renameSync(tmp, file);
  }
  fs.chmodSync(file, 0o600);
  const orchestrator = { user: ORCHESTRATOR_USER, password: orchestratorPassword ?? stored.orchestratorPassword };
  const worker = { user: WORKER_USER, password: stored.workerPassword };
  return { orchestrator, worker, users: [orchestrator, { ...worker, permissions: workerPermissions(names) }] };
}

/** Options for @nats-io connect() from a NatsAuth. */
export function connectAuth(auth: NatsAuth): { user?: string; pass?: string; token?: string } {
  if ("token" in auth) return { token: auth.token };
  if ("user" in auth) return { user: auth.user, pass: auth.password };
  return {};
}

/** The worker machine env entries that carry `auth`. */
export function workerAuthEnv(auth: NatsAuth): Record<string, string> {
  if ("token" in auth) return { [WORKER_ENV.natsToken]: auth.token };
  if ("user" in auth) return { [WORKER_ENV.natsUser]: auth.user, [WORKER_ENV.natsPassword]: auth.password };
  return {};
}

/** Secrets inside `auth`, for the log redactor. */
export function authSecrets(auth: NatsAuth): string[] {
  if ("token" in auth) return [auth.token];
  if ("password" in auth) return [auth.password];
  return [];
}

/** The nats-server `authorization` users an operator adds to their own server for a deployment with this prefix. */
export function operatorAuthorizationSnippet(names: WireNames): string {
  return authorizationConfig({
    users: [
      { user: ORCHESTRATOR_USER, password: "<orchestrator password: NATS_USER/NATS_PASSWORD>" },
      { user: WORKER_USER, password: "<worker password: PODFLEET_WORKER_NATS_USER/PASSWORD>", permissions: workerPermissions(names) },
    ],
  });
}

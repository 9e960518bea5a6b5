/**
 * The dashboard's actions (session and CSRF already checked by dashboard.tsx): submit by URL or
 * upload, cancel, retry, resend a callback, change fleet limits. Each calls the same service as
 * its JSON API route, with the same bounds (input-bounds.ts, the limits schema). The client
 * script sends them with `accept: application/json` and gets `{ok, …}` or `{error: {code,
 * message}}`; a plain form post is redirected back to the page it came from.
 */
import { Readable } from "node:stream";
import type { Context, Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";
import { languageTagField } from "../episodes/language-tag.ts";
import { InvalidLimitsError, type FleetLimits } from "../fleet/fleet-limits.ts";
import { BadInputError } from "../ingest/ingest-errors.ts";
import { boundedQueryNumber, CHUNK_SECONDS } from "../input-bounds.ts";
import { UploadStoppedError } from "../episodes/upload-receipt.ts";
import type { DashboardDeps, DashboardEnv } from "./dashboard.tsx";

/** A refused action: its HTTP status, a code, and a sentence for the operator. */
export class DashboardError extends Error {
  override name = "DashboardError";
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function wantsJson(c: Context): boolean {
  return (c.req.header("accept") ?? "").includes("application/json");
}

const SubmitForm = z.object({
  audioUrl: z.string().trim().min(1, "an audio URL is required").max(4096),
  title: z.string().max(500).optional(),
  chunkSeconds: boundedQueryNumber(CHUNK_SECONDS).optional(),
  language: languageTagField.optional(),
});

function firstProblem(error: z.ZodError): DashboardError {
  const issue = error.issues[0]!;
  return new DashboardError(400, "invalid_request", `${issue.path.join(".") || "form"}: ${issue.message}`);
}

/** Form fields as strings, empty ones dropped (an empty optional field means "not given"). */
async function formFields(c: Context): Promise<Record<string, string>> {
  const body = await c.req.parseBody();
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (typeof v === "string" && k !== "_csrf" && v.trim() !== "") out[k] = v;
  return out;
}

function done(c: Context, result: Record<string, unknown>, back: string) {
  if (wantsJson(c)) return c.json({ ok: true, ...result });
  return c.redirect(back, 303);
}

function backTo(c: Context, fallback: string): string {
  const referer = c.req.header("referer");
  if (!referer) return fallback;
  try {
    const url = new URL(referer);
    return url.origin === new URL(c.req.url).origin ? url.pathname + url.search : fallback;
  } catch {
    return fallback;
  }
}

/** Statuses of the bad-input codes that are not 400 (the API's renderError answers the same). */
const BAD_INPUT_STATUS: Partial<Record<BadInputError["code"], 413 | 408>> = { too_large: 413, stalled: 408 };

function rethrowBadInput(err: unknown): never {
  if (err instanceof BadInputError) throw new DashboardError(BAD_INPUT_STATUS[err.code] ?? 400, err.code, err.message);
  if (err instanceof UploadStoppedError) throw new DashboardError(409, "upload_stopped", err.message);
  throw err;
}

const NUMBER_LIMITS = ["maxMachines", "maxStarting", "idleTimeoutSec", "maxLifetimeSec", "warmPool"] as const;

/**
 * The limits form as a PUT /v1/fleet/limits body: only the fields that differ from the current
 * limits, so a field never changed keeps following its environment default. Numbers are sent as
 * numbers only when they are plain decimals; anything else goes as text and the schema refuses it.
 */
export function limitsPatch(form: Record<string, string>, current: FleetLimits): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  const num = (raw: string): unknown => (/^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : raw);
  for (const key of NUMBER_LIMITS) {
    const raw = form[key];
    if (raw === undefined) continue;
    const value = num(raw);
    if (value !== current[key]) patch[key] = value;
  }
  const budget = form.dailyBudgetMachineSeconds === undefined ? null : num(form.dailyBudgetMachineSeconds);
  if (budget !== current.dailyBudgetMachineSeconds) patch.dailyBudgetMachineSeconds = budget;
  const regions = (form.regions ?? "")
    .split(",")
    .map((r) => r.trim())
    .filter((r) => r !== "");
  if (regions.join(",") !== current.regions.join(",")) patch.regions = regions;
  if (form.image !== undefined && form.image !== current.image) patch.image = form.image.trim();
  return patch;
}

export function mountDashboardActions(dash: Hono<DashboardEnv>, deps: DashboardDeps): void {
  dash.post("/ui/episodes", async (c) => {
    const parsed = SubmitForm.safeParse(await formFields(c));
    if (!parsed.success) throw firstProblem(parsed.error);
    const row = await deps.episodes.submitUrl(parsed.data.audioUrl, parsed.data).catch(rethrowBadInput);
    return done(c, { id: row.id, status: row.status }, "/");
  });

  // The file is the request body (the script sends it so); title and language in the query.
  dash.post("/ui/episodes/upload", async (c) => {
    const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (!(type.startsWith("audio/") || type.startsWith("video/") || type === "application/octet-stream")) {
      throw new DashboardError(
        415,
        "unsupported_media_type",
        "send the file itself as the body (the page's script does this; a plain form upload is not accepted)",
      );
    }
    const query = z.object({ title: z.string().max(500).optional(), language: languageTagField.optional() }).safeParse(c.req.query());
    if (!query.success) throw firstProblem(query.error);
    const declared = Number(c.req.header("content-length") ?? NaN);
    if (declared > deps.maxUploadBytes) throw new DashboardError(413, "too_large", `the file is over the ${deps.maxUploadBytes}-byte limit`);
    const body = c.req.raw.body;
    if (!body) throw new DashboardError(400, "empty_file", "the file is empty");
    const row = await deps.episodes
      .submitUpload(
        { body: Readable.fromWeb(body), maxBytes: deps.maxUploadBytes, declaredBytes: Number.isFinite(declared) ? declared : undefined },
        { title: query.data.title || undefined, language: query.data.language },
      )
      .catch(rethrowBadInput);
    return done(c, { id: row.id, status: row.status }, "/");
  });

  dash.post("/ui/episodes/:id/cancel", async (c) => {
    const id = c.req.param("id");
    const result = await deps.episodes.cancel(id);
    if (result.outcome === "not_found") throw new DashboardError(404, "not_found", `no episode ${id}`);
    if (result.outcome === "refused")
      throw new DashboardError(409, "not_cancellable", `episode ${id} is ${result.state}; only unfinished episodes can be cancelled`);
    return done(c, { id }, backTo(c, "/"));
  });

  dash.post("/ui/episodes/:id/retry", async (c) => {
    const id = c.req.param("id");
    const result = await deps.episodes.retry(id);
    if (result.outcome === "not_found") throw new DashboardError(404, "not_found", `no episode ${id}`);
    if (result.outcome === "refused") throw new DashboardError(409, "not_retryable", result.reason);
    return done(c, { id, requeuedChunks: result.requeued, redownload: result.redownload }, backTo(c, "/"));
  });

  dash.post("/ui/deliveries/:id/resend", async (c) => {
    const id = c.req.param("id");
    if (!(await deps.deliveries.resend(id))) throw new DashboardError(404, "not_found", `no delivery ${id}`);
    return done(c, { id }, backTo(c, "/"));
  });

  dash.post("/ui/fleet/limits", async (c) => {
    const patch = limitsPatch(await formFields(c), await deps.limits.get());
    try {
      const limits = await deps.limits.update(patch);
      deps.onLimitsChanged();
      return done(c, { limits, changed: Object.keys(patch) }, "/ui/fleet");
    } catch (err) {
      if (err instanceof InvalidLimitsError) throw new DashboardError(400, "invalid_limits", err.message);
      throw err;
    }
  });
}

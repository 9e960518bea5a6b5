/**
 * `podfleet models pull NAME [--dir DIR] [--sha256 HEX] [--force]` and `podfleet models list [--dir DIR]`:
 * fetch whisper.cpp models into the directory local workers read (PODFLEET_MODELS_DIR, default
 * `<data-dir>/models`) from PODFLEET_MODELS_URL (default whisper.cpp's Hugging Face host), saying
 * exactly which checksum was verified.
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { CliError, EXIT } from "./cli-error.ts";
import type { CommandContext } from "./command-action.ts";
import { localDataDir } from "./target.ts";
import { table } from "./table.ts";
import { writeHuman, writeJson } from "./terminal-text.ts";

/** The variable naming the model host's base URL (tests point it at a local server). */
export const MODELS_URL_ENV = "PODFLEET_MODELS_URL";

type Download = typeof import("../models/model-download.ts");
type CatalogModule = typeof import("../../machine-image/worker/whisper-model.ts");

/**
 * The catalog and downloader live beside the worker (machine-image/worker/whisper-model.ts), which
 * the orchestrator image does not ship; load them only when a models command runs, so `podfleet up`
 * never depends on them.
 */
async function loadModules(): Promise<{ download: Download; catalog: CatalogModule }> {
  try {
    const [download, catalog] = await Promise.all([import("../models/model-download.ts"), import("../../machine-image/worker/whisper-model.ts")]);
    return { download, catalog };
  } catch (err) {
    if ((err as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND") {
      throw new CliError("models commands need machine-image/worker/ (run them from a podfleet checkout)");
    }
    throw err;
  }
}

/** Where models go: --dir, else PODFLEET_MODELS_DIR, else `<data-dir>/models` (where local machines look: fleet/worker-launch.ts). */
export function modelsDir(ctx: CommandContext): string {
  const flag = ctx.flags.dir as string | undefined;
  return resolve(flag ?? (ctx.env.PODFLEET_MODELS_DIR?.trim() || join(localDataDir(ctx), "models")));
}

export async function listModels(ctx: CommandContext): Promise<number> {
  const { catalog } = await loadModules();
  const dir = modelsDir(ctx);
  const rows = [...catalog.WHISPER_MODELS].map(([n, e]) => ({
    name: n,
    file: e.file,
    approxMiB: e.approxMiB,
    checksum: e.sha256 ? "sha256" : e.sha1 ? "sha1" : "none",
    present: existsSync(join(dir, e.file)),
  }));
  if (ctx.json) writeJson({ dir, models: rows });
  else
    writeHuman(
      table(
        ["NAME", "FILE", "SIZE", "CHECKSUM", "IN " + dir],
        rows.map((r) => [r.name, r.file, `~${r.approxMiB} MiB`, r.checksum, r.present ? "yes" : "-"]),
      ),
    );
  return 0;
}

export async function pullModel(ctx: CommandContext, name: string): Promise<number> {
  const f = ctx.flags as { sha256?: string; force?: boolean };
  if (f.sha256 !== undefined && !/^[0-9a-f]{64}$/i.test(f.sha256.trim())) throw new CliError("--sha256 must be 64 hex digits", EXIT.usage);
  const { download, catalog } = await loadModules();
  const dir = modelsDir(ctx);
  const baseUrl = modelsBaseUrl(ctx.env);

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  const bar = new ByteProgress(name, (catalog.WHISPER_MODELS.get(name)?.approxMiB ?? 0) * 1024 * 1024);
  try {
    const pulled = await download.pullModel({
      name,
      dir,
      baseUrl,
      sha256: f.sha256,
      force: f.force === true,
      signal: abort.signal,
      onProgress: (got, total) => bar.update(got, total),
    });
    bar.finish();
    if (ctx.json) writeJson(pulled);
    else writeHuman(describe(pulled));
    return 0;
  } catch (err) {
    bar.finish();
    if (abort.signal.aborted) throw new CliError(`models pull ${name}: interrupted, nothing installed`, EXIT.interrupted, "interrupted");
    if (err instanceof download.ModelRefusedError) throw new CliError(err.message, err.code === "unknown_model" ? EXIT.usage : EXIT.failed, err.code);
    if (err instanceof download.ModelDownloadError) throw new CliError(err.message, EXIT.failed, "download_failed");
    throw err;
  } finally {
    process.off("SIGINT", onSignal);
  }
}

/** PODFLEET_MODELS_URL when set (http or https only), else undefined: the catalog's default host. */
function modelsBaseUrl(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env[MODELS_URL_ENV]?.trim();
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`${MODELS_URL_ENV}: not a valid URL`, EXIT.usage);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`${MODELS_URL_ENV}: must be an http(s) URL`, EXIT.usage);
  return url.toString();
}

/** Human summary that names exactly the checks done, and says so plainly when none could be. */
function describe(p: import("../models/model-download.ts").PulledModel): string {
  const head = p.alreadyPresent ? `${p.name} already in ${p.path} (${p.bytes} bytes)` : `pulled ${p.name} → ${p.path} (${p.bytes} bytes)`;
  if (p.verified.length === 0) {
    const how = p.alreadyPresent ? "it matches the SHA-256 recorded when it was pulled" : "only the ggml header was checked";
    return (
      `${head}\n` +
      `NOT verified: no checksum is known for ${p.name}; ${how}.\n` +
      `SHA-256 of this file: ${p.sha256} (pin it with --sha256 ${p.sha256})\n`
    );
  }
  const checks = p.verified.map((k) =>
    k === "sha1"
      ? "SHA-1 (value published in whisper.cpp's models/README)"
      : `SHA-256 (${p.sha256Source === "pin" ? "--sha256" : "podfleet's catalog"})`,
  );
  return `${head}\nverified: ${checks.join(" and ")}\nSHA-256 of this file: ${p.sha256}\n`;
}

/** A byte progress bar on stderr when it is a terminal; silent otherwise (logs, pipes, tests). */
class ByteProgress {
  private readonly out = process.stderr;
  private readonly started = Date.now();
  private last = 0;
  private shown = false;

  constructor(
    private readonly label: string,
    private readonly guess: number,
  ) {}

  update(got: number, total: number | undefined): void {
    if (!this.out.isTTY) return;
    const now = Date.now();
    if (now - this.last < 100 && got !== total) return;
    this.last = now;
    const size = total ?? Math.max(this.guess, got);
    const width = 30;
    const filled = size > 0 ? Math.min(width, Math.round((got / size) * width)) : 0;
    const mib = (n: number) => (n / 1048576).toFixed(1);
    const rate = got / 1048576 / Math.max(0.001, (now - this.started) / 1000);
    const pct = size > 0 ? `${Math.min(100, Math.floor((got / size) * 100))}%` : "";
    this.out.write(
      `\r${this.label}  ${"█".repeat(filled)}${"░".repeat(width - filled)} ${mib(got)}/${total === undefined ? "~" : ""}${mib(size)} MiB ${pct} ${rate.toFixed(1)} MiB/s\x1b[K`,
    );
    this.shown = true;
  }

  finish(): void {
    if (this.shown) this.out.write("\n");
    this.shown = false;
  }
}

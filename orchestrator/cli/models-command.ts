/**
 * `podfleet models pull NAME [--dir DIR] [--sha256 HEX] [--force] [--json]` and
 * `podfleet models list [--dir DIR] [--json]`: fetch whisper.cpp models into the directory the
 * worker reads (PODFLEET_MODELS_DIR, default /models) from PODFLEET_MODELS_URL (default
 * whisper.cpp's Hugging Face host), saying exactly which checksum was verified. `main.ts`
 * dispatches here.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CliError } from "./cli-error.ts";
import { parseCommandArgs } from "./cli-args.ts";
import { table } from "./table.ts";
import { writeHuman, writeJson } from "./terminal-text.ts";

export const MODELS_USAGE = `  models pull NAME [--dir DIR] [--sha256 HEX] [--force] [--json]
                                             download a whisper.cpp model (tiny.en … large-v3-turbo-q8_0)
                                             into PODFLEET_MODELS_DIR, verifying any known checksum
  models list [--dir DIR] [--json]           the catalog: sizes, known checksums, what is downloaded`;

/** The variable naming the model host's base URL (tests point it at a local server). */
export const MODELS_URL_ENV = "PODFLEET_MODELS_URL";

type Download = typeof import("../models/model-download.ts");
type WorkerConfigModule = typeof import("../../machine-image/worker/worker-config.ts");
type CatalogModule = typeof import("../../machine-image/worker/whisper-model.ts");

/**
 * The catalog and downloader live beside the worker (machine-image/worker/whisper-model.ts), which
 * the orchestrator image does not ship; load them only when a models command runs, so `podfleet up`
 * never depends on them.
 */
async function loadModules(): Promise<{ download: Download; workerConfig: WorkerConfigModule; catalog: CatalogModule }> {
  try {
    const [download, workerConfig, catalog] = await Promise.all([
      import("../models/model-download.ts"),
      import("../../machine-image/worker/worker-config.ts"),
      import("../../machine-image/worker/whisper-model.ts"),
    ]);
    return { download, workerConfig, catalog };
  } catch (err) {
    if ((err as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND") {
      throw new CliError("models commands need machine-image/worker/ (run them from a podfleet checkout)");
    }
    throw err;
  }
}

export async function modelsCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const parsed = parseCommandArgs(argv, {
    dir: { type: "string" },
    sha256: { type: "string" },
    force: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  } as const);
  const { values, positionals } = parsed;
  const [sub, name, extra] = positionals;
  if (extra !== undefined) throw new CliError(`unexpected argument "${extra}" (see podfleet --help)`, 2);
  const { download, workerConfig, catalog } = await loadModules();
  const { WHISPER_MODELS } = catalog;
  const dir = values.dir ?? (env[workerConfig.WHISPER_ENV.modelsDir]?.trim() || workerConfig.WHISPER_DEFAULTS.modelsDir);

  if (sub === "list") {
    const rows = [...WHISPER_MODELS].map(([n, e]) => ({
      name: n,
      file: e.file,
      approxMiB: e.approxMiB,
      checksum: e.sha256 ? "sha256" : e.sha1 ? "sha1" : "none",
      present: existsSync(join(dir, e.file)),
    }));
    if (values.json) writeJson({ dir, models: rows });
    else {
      writeHuman(table(["NAME", "FILE", "SIZE", "CHECKSUM", "IN " + dir], rows.map((r) => [r.name, r.file, `~${r.approxMiB} MiB`, r.checksum, r.present ? "yes" : "-"])));
    }
    return 0;
  }
  if (sub !== "pull") throw new CliError(`unknown models command "${sub ?? ""}" (pull, list)`, 2);
  if (!name) throw new CliError("models pull needs a model name (see podfleet models list)", 2);
  if (values.sha256 !== undefined && !/^[0-9a-f]{64}$/i.test(values.sha256.trim())) {
    throw new CliError("--sha256 must be 64 hex digits", 2);
  }
  const baseUrl = modelsBaseUrl(env);

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  const bar = new ByteProgress(name, (WHISPER_MODELS.get(name)?.approxMiB ?? 0) * 1024 * 1024);
  try {
    const pulled = await download.pullModel({
      name,
      dir,
      baseUrl,
      sha256: values.sha256,
      force: values.force,
      signal: abort.signal,
      onProgress: (got, total) => bar.update(got, total),
    });
    bar.finish();
    if (values.json) writeJson(pulled);
    else writeHuman(describe(pulled));
    return 0;
  } catch (err) {
    bar.finish();
    if (abort.signal.aborted) throw new CliError(`models pull ${name}: interrupted, nothing installed`, 130);
    if (err instanceof download.ModelRefusedError) throw new CliError(err.message, err.code === "unknown_model" ? 2 : 1);
    if (err instanceof download.ModelDownloadError) throw new CliError(err.message, 1);
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
    throw new CliError(`${MODELS_URL_ENV}: not a valid URL`, 2);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new CliError(`${MODELS_URL_ENV}: must be an http(s) URL`, 2);
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
    k === "sha1" ? "SHA-1 (value published in whisper.cpp's models/README)" : `SHA-256 (${p.sha256Source === "pin" ? "--sha256" : "podfleet's catalog"})`,
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
    this.out.write(`\r${this.label}  ${"█".repeat(filled)}${"░".repeat(width - filled)} ${mib(got)}/${total === undefined ? "~" : ""}${mib(size)} MiB ${pct} ${rate.toFixed(1)} MiB/s\x1b[K`);
    this.shown = true;
  }

  finish(): void {
    if (this.shown) this.out.write("\n");
    this.shown = false;
  }
}

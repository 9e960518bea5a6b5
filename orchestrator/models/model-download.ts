/**
 * Downloads a Whisper model named in the catalog (machine-image/worker/whisper-model.ts) into the
 * models directory the worker reads. The body is streamed to a temp file beside the target and
 * hashed (SHA-256 and SHA-1) while it is written; every checksum known for the model is compared,
 * the ggml header is checked, and only then is the file renamed into place and `<sha256>  <bytes>`
 * recorded in the sidecar the worker's start-up check reads. A refused or failed download leaves
 * nothing behind. The model host is chosen by the operator (PODFLEET_MODELS_URL), not by a user,
 * so the outbound module's address guard is switched off here (a models mirror on the LAN is
 * fine); its redirect chain, URL policy and failure classification still apply.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { Agent } from "undici";
import { BadInputError } from "../ingest/ingest-errors.ts";
import { failureFromError, failureFromStatus, TransientFetchError } from "../outbound/fetch-errors.ts";
import { DEFAULT_MAX_REDIRECTS, getFollowingRedirects } from "../outbound/redirect-chain.ts";
import {
  checkModelFile,
  checksumSidecar,
  DEFAULT_MODEL_BASE_URL,
  WHISPER_MODELS,
  type WhisperModelEntry,
} from "../../machine-image/worker/whisper-model.ts";

/** The checksums a download can be verified with, strongest first. */
export type ChecksumKind = "sha256" | "sha1";

export interface ModelPullOptions {
  /** Catalog name, e.g. `base.en` or `large-v3-turbo-q5_0`. */
  readonly name: string;
  /** Models directory (the worker's PODFLEET_MODELS_DIR); created when missing. */
  readonly dir: string;
  /** Base URL the file name is appended to; default whisper.cpp's Hugging Face host. */
  readonly baseUrl?: string;
  /** The catalog to look the name up in; tests pass their own entries. Default WHISPER_MODELS. */
  readonly catalog?: ReadonlyMap<string, WhisperModelEntry>;
  /** A SHA-256 to verify against (hex), overriding the catalog's; `--sha256` on the CLI. */
  readonly sha256?: string;
  /** Download again even when a matching file is already there. */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
  /** Called as bytes arrive; `total` is the server's Content-Length when it sent one. */
  readonly onProgress?: (received: number, total: number | undefined) => void;
}

export interface PulledModel {
  readonly name: string;
  readonly path: string;
  /** The URL asked for (redirects are followed); undefined when the file was already present. */
  readonly url: string | undefined;
  readonly bytes: number;
  /** Computed from the bytes on disk. */
  readonly sha256: string;
  readonly sha1: string;
  /** Checksums that were compared with a known value and matched; empty when none was known. */
  readonly verified: readonly ChecksumKind[];
  /** Where the expected SHA-256 came from, when one was verified. */
  readonly sha256Source: "catalog" | "pin" | undefined;
  /** The file was there already and passed the checks above (nothing downloaded). */
  readonly alreadyPresent: boolean;
}

/** Retrying may help: the host was unreachable, slow, answered 5xx/429, or the body was cut short. */
export class ModelDownloadError extends Error {
  override readonly name = "ModelDownloadError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export type ModelRefusedCode = "unknown_model" | "not_found" | "bad_checksum" | "not_a_model" | "dir_not_writable";

/** Retrying the same thing cannot help: fix the name, the host, the checksum or the directory. */
export class ModelRefusedError extends Error {
  override readonly name = "ModelRefusedError";
  constructor(
    readonly code: ModelRefusedCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const LABEL: Record<ChecksumKind, string> = { sha256: "SHA-256", sha1: "SHA-1" };

/** Pulls one model; see the module comment for what is checked. Returns what was verified. */
export async function pullModel(opts: ModelPullOptions): Promise<PulledModel> {
  const catalog = opts.catalog ?? WHISPER_MODELS;
  const entry = catalog.get(opts.name);
  if (!entry) {
    throw new ModelRefusedError("unknown_model", `unknown model "${opts.name}" (known: ${[...catalog.keys()].join(", ")})`);
  }
  const pin = opts.sha256?.trim().toLowerCase();
  const expected: Partial<Record<ChecksumKind, string>> = {};
  if (pin || entry.sha256) expected.sha256 = (pin || entry.sha256)!.toLowerCase();
  if (entry.sha1) expected.sha1 = entry.sha1.toLowerCase();
  const sha256Source = pin ? "pin" : entry.sha256 ? "catalog" : undefined;
  const path = join(opts.dir, entry.file);

  if (!opts.force) {
    const present = await checkPresent(path, expected);
    if (present)
      return {
        name: opts.name,
        path,
        url: undefined,
        ...present,
        sha256Source: present.verified.includes("sha256") ? sha256Source : undefined,
        alreadyPresent: true,
      };
  }

  try {
    await mkdir(opts.dir, { recursive: true });
  } catch (err) {
    throw new ModelRefusedError(
      "dir_not_writable",
      `cannot create models directory ${opts.dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (use --dir DIR or set PODFLEET_MODELS_DIR)`,
      { cause: err },
    );
  }
  const tmp = join(opts.dir, `.${entry.file}.${process.pid}-${randomBytes(4).toString("hex")}.partial`);
  const url = new URL(entry.file, (opts.baseUrl ?? DEFAULT_MODEL_BASE_URL).replace(/\/?$/, "/"));
  try {
    const got = await download(url, tmp, opts);
    for (const kind of ["sha256", "sha1"] as const) {
      const want = expected[kind];
      if (want && got[kind] !== want) {
        throw new ModelRefusedError(
          "bad_checksum",
          `${entry.file} failed ${LABEL[kind]} verification (expected ${want}, got ${got[kind]}): corrupt or tampered download, nothing installed`,
        );
      }
    }
    try {
      await checkModelFile(tmp);
    } catch (err) {
      throw new ModelRefusedError(
        "not_a_model",
        `${entry.file} from ${url.host} is not a ggml Whisper model (bad magic or header): nothing installed`,
        { cause: err },
      );
    }
    // Drop a stale sidecar first: a crash between the steps then leaves a model without a record
    // (accepted as hand-placed) rather than a record that lies about the new file.
    await rm(checksumSidecar(path), { force: true });
    await rename(tmp, path);
    const sidecarTmp = `${tmp}.sha256`;
    await writeFile(sidecarTmp, `${got.sha256}  ${got.bytes}\n`);
    await rename(sidecarTmp, checksumSidecar(path));
    const verified = (["sha256", "sha1"] as const).filter((k) => expected[k] !== undefined);
    return {
      name: opts.name,
      path,
      url: got.finalUrl,
      bytes: got.bytes,
      sha256: got.sha256,
      sha1: got.sha1,
      verified,
      sha256Source,
      alreadyPresent: false,
    };
  } finally {
    await rm(tmp, { force: true });
    await rm(`${tmp}.sha256`, { force: true });
  }
}

interface Downloaded {
  finalUrl: string;
  bytes: number;
  sha256: string;
  sha1: string;
}

/** GET `url` (following redirects, as Hugging Face's resolve URLs need) into `dest`, hashing as it goes. */
async function download(url: URL, dest: string, opts: ModelPullOptions): Promise<Downloaded> {
  const agent = new Agent({ connect: { timeout: 30_000 }, headersTimeout: 60_000, bodyTimeout: 120_000 });
  const where = `${url.host}${url.pathname}`;
  const failed = (err: unknown): Error => {
    if (err instanceof ModelDownloadError || err instanceof ModelRefusedError) return err;
    if (opts.signal?.aborted) return new ModelDownloadError(`download of ${where} interrupted`, { cause: err });
    const code = (err as { code?: unknown }).code;
    if (code === "EACCES" || code === "EROFS" || code === "ENOSPC") {
      return new ModelRefusedError("dir_not_writable", `cannot write into ${opts.dir}: ${code}`, { cause: err });
    }
    const failure = failureFromError(err, url.host, false, 0);
    if (failure instanceof BadInputError)
      return new ModelRefusedError("not_found", `${failure.message} (is PODFLEET_MODELS_URL right?)`, { cause: failure });
    return new ModelDownloadError(`download of ${where} failed: ${failure.message}; try again`, { cause: failure });
  };
  try {
    let res: Awaited<ReturnType<typeof getFollowingRedirects>>["res"];
    try {
      ({ res } = await getFollowingRedirects(url, {
        dispatcher: agent,
        policy: { allowPrivate: true },
        // No overall deadline: a large model on a slow line may take long; the stall timeouts above bound silence.
        signal: opts.signal,
        timeoutMs: 0,
        headers: { "user-agent": "podfleet/0.1 (models pull)" },
        maxRedirects: DEFAULT_MAX_REDIRECTS,
      }));
    } catch (err) {
      throw failed(err);
    }
    if (res.statusCode !== 200) {
      await res.body.dump().catch(() => undefined);
      const failure = failureFromStatus(res.statusCode, res.headers, where);
      if (failure instanceof TransientFetchError)
        throw new ModelDownloadError(`${where} answered HTTP ${res.statusCode}; try again later`, { cause: failure });
      throw new ModelRefusedError("not_found", `${where} answered HTTP ${res.statusCode} (is PODFLEET_MODELS_URL right?)`, { cause: failure });
    }
    const declared = Number(res.headers["content-length"]);
    const total = Number.isFinite(declared) && declared >= 0 ? declared : undefined;
    const sha256 = createHash("sha256");
    const sha1 = createHash("sha1");
    let bytes = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        sha256.update(chunk);
        sha1.update(chunk);
        bytes += chunk.length;
        opts.onProgress?.(bytes, total);
        done(null, chunk);
      },
    });
    try {
      await pipeline(res.body, meter, createWriteStream(dest, { flags: "wx" }), opts.signal ? { signal: opts.signal } : {});
    } catch (err) {
      throw failed(err);
    }
    if (total !== undefined && bytes !== total)
      throw new ModelDownloadError(`download of ${where} ended after ${bytes} of ${total} bytes; try again`);
    return { finalUrl: url.toString(), bytes, sha256: sha256.digest("hex"), sha1: sha1.digest("hex") };
  } finally {
    await agent.destroy();
  }
}

/**
 * A file already at `path` counts as present when it matches every known checksum (at least one),
 * or, with none known, the SHA-256 its sidecar recorded at download. Anything else is pulled again.
 */
async function checkPresent(
  path: string,
  expected: Partial<Record<ChecksumKind, string>>,
): Promise<Omit<PulledModel, "name" | "path" | "url" | "alreadyPresent" | "sha256Source"> | undefined> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return undefined;
  }
  const hashes = await hashFile(path);
  const known = (["sha256", "sha1"] as const).filter((k) => expected[k] !== undefined);
  if (known.length > 0) {
    return known.every((k) => hashes[k] === expected[k]) ? { bytes: size, ...hashes, verified: known } : undefined;
  }
  const recorded = await readFile(checksumSidecar(path), "utf8").catch(() => "");
  return recorded.trim().split(/\s+/)[0] === hashes.sha256 ? { bytes: size, ...hashes, verified: [] } : undefined;
}

async function hashFile(path: string): Promise<{ sha256: string; sha1: string }> {
  const sha256 = createHash("sha256");
  const sha1 = createHash("sha1");
  for await (const chunk of createReadStream(path)) {
    sha256.update(chunk as Buffer);
    sha1.update(chunk as Buffer);
  }
  return { sha256: sha256.digest("hex"), sha1: sha1.digest("hex") };
}

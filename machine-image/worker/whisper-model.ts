/**
 * Whisper models for the whisper.cpp engine: the catalog `podfleet models pull` downloads from,
 * where a worker finds a model (a name in the models directory, or a path), and the cheap check a
 * worker runs at start so a missing, truncated or foreign file fails there and not mid-chunk.
 */
import { open, readFile, stat } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { EngineUnavailableError } from "./errors.ts";

export interface WhisperModelEntry {
  /** File name on the model host and in the models directory. */
  readonly file: string;
  /** Approximate size, for the progress display before the server sends a length. */
  readonly approxMiB: number;
  /** SHA-1 published in whisper.cpp's models/README.md (the only checksums upstream publishes). */
  readonly sha1?: string;
  /** SHA-256 of the file. Upstream publishes none; pin one with `models pull --sha256`. */
  readonly sha256?: string;
}

/** Where the ggml conversions of OpenAI's Whisper weights are published (whisper.cpp's own host). */
export const DEFAULT_MODEL_BASE_URL = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main";

const m = (name: string, approxMiB: number, sha1?: string): [string, WhisperModelEntry] => [
  name,
  { file: `ggml-${name}.bin`, approxMiB, ...(sha1 ? { sha1 } : {}) },
];

/** Models `podfleet models pull` knows: whisper.cpp's download-ggml-model.sh names. */
export const WHISPER_MODELS: ReadonlyMap<string, WhisperModelEntry> = new Map([
  m("tiny", 75, "bd577a113a864445d4c299885e0cb97d4ba92b5f"),
  m("tiny.en", 75, "c78c86eb1a8faa21b369bcd33207cc90d64ae9df"),
  m("tiny-q5_1", 31),
  m("tiny.en-q5_1", 31),
  m("tiny-q8_0", 42),
  m("base", 142, "465707469ff3a37a2b9b8d8f89f2f99de7299dac"),
  m("base.en", 142, "137c40403d78fd54d454da0f9bd998f78703390c"),
  m("base-q5_1", 57),
  m("base.en-q5_1", 57),
  m("base-q8_0", 78),
  m("small", 466, "55356645c2b361a969dfd0ef2c5a50d530afd8d5"),
  m("small.en", 466, "db8a495a91d927739e50b3fc1cc4c6b8f6c2d022"),
  m("small-q5_1", 181),
  m("small.en-q5_1", 181),
  m("small-q8_0", 252),
  m("medium", 1500, "fd9727b6e1217c2f614f9b698455c4ffd82463b4"),
  m("medium.en", 1500, "8c30f0e44ce9560643ebd10bbe50cd20eafd3723"),
  m("medium-q5_0", 514),
  m("medium.en-q5_0", 514),
  m("medium-q8_0", 785),
  m("large-v1", 2900, "b1caaf735c4cc1429223d5a74f0f4d0b9b59a299"),
  m("large-v2", 2900, "0f4c8e34f21cf1a914c59d8b3ce882345ad349d6"),
  m("large-v2-q5_0", 1100, "00e39f2196344e901b3a2bd5814807a769bd1630"),
  m("large-v2-q8_0", 1500),
  m("large-v3", 2900, "ad82bf6a9043ceed055076d0fd39f5f186ff8062"),
  m("large-v3-q5_0", 1100, "e6e2ed78495d403bef4b7cff42ef4aaadcfea8de"),
  m("large-v3-turbo", 1500),
  m("large-v3-turbo-q5_0", 547),
  m("large-v3-turbo-q8_0", 834),
]);

/** The fields of a ggml Whisper header the worker checks (11 int32 after the magic). */
export interface WhisperModelHeader {
  readonly nVocab: number;
  readonly nAudioCtx: number;
  readonly nAudioState: number;
  readonly nAudioLayer: number;
  readonly nTextLayer: number;
  readonly nMels: number;
  readonly ftype: number;
}

/** "lmgg" little-endian: the ggml file magic whisper.cpp checks first. */
export const GGML_MAGIC = 0x67676d6c;

/** A catalog name resolves to DIR/ggml-NAME.bin; anything with a slash or `.bin` is a path. */
export function resolveModelPath(modelsDir: string, nameOrPath: string): string {
  if (isAbsolute(nameOrPath) || nameOrPath.includes("/") || nameOrPath.endsWith(".bin")) {
    return isAbsolute(nameOrPath) ? nameOrPath : join(modelsDir, nameOrPath);
  }
  return join(modelsDir, WHISPER_MODELS.get(nameOrPath)?.file ?? `ggml-${nameOrPath}.bin`);
}

/** The sidecar `models pull` writes next to a verified model: `<sha256>  <bytes>`. */
export const checksumSidecar = (modelPath: string): string => `${modelPath}.sha256`;

/**
 * Checks a model file before the engine starts: it exists, has the ggml magic and sane
 * hyper-parameters, and (when `models pull` left a sidecar) has the size that was verified.
 * Throws EngineUnavailableError saying what to do, so the worker exits at start.
 */
export async function checkModelFile(modelPath: string): Promise<WhisperModelHeader> {
  let size: number;
  try {
    size = (await stat(modelPath)).size;
  } catch (err) {
    throw new EngineUnavailableError(`whisper model ${modelPath} not found: run \`podfleet models pull NAME\` or set WHISPER_MODEL`, { cause: err });
  }
  const fh = await open(modelPath, "r");
  let buf: Buffer;
  try {
    buf = Buffer.alloc(48);
    await fh.read(buf, 0, 48, 0);
  } finally {
    await fh.close();
  }
  const corrupt = (why: string) => new EngineUnavailableError(`whisper model ${modelPath} is corrupt (${why}): delete it and pull it again`);
  if (size < 48 || buf.readUInt32LE(0) !== GGML_MAGIC) throw corrupt("not a ggml Whisper file");
  const i = (k: number) => buf.readInt32LE(4 + 4 * k);
  const header: WhisperModelHeader = {
    nVocab: i(0),
    nAudioCtx: i(1),
    nAudioState: i(2),
    nAudioLayer: i(4),
    nTextLayer: i(8),
    nMels: i(9),
    ftype: i(10),
  };
  if (header.nVocab < 1 || header.nAudioCtx < 1 || header.nAudioState < 1 || (header.nMels !== 80 && header.nMels !== 128)) {
    throw corrupt("implausible header");
  }
  let sidecar: string | undefined;
  try {
    sidecar = await readFile(checksumSidecar(modelPath), "utf8");
  } catch {
    sidecar = undefined; // a model put there by hand: nothing recorded to compare with
  }
  const expected = sidecar ? Number(sidecar.trim().split(/\s+/)[1]) : NaN;
  if (Number.isFinite(expected) && expected !== size) throw corrupt(`${size} bytes, ${expected} were verified at download`);
  return header;
}

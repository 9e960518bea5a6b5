/**
 * Speech engine backed by the CMU `pocketsphinx_continuous` command (Debian package
 * pocketsphinx + pocketsphinx-en-us). It is small and CPU-only: good enough to prove the fleet
 * end to end. The model is loaded per chunk (the CLI offers nothing else); whisper.cpp will not.
 * Each input is decoded with the cepstral mean normalisation started at its own mean
 * (cepstral-mean.ts), so a chunk decodes like the same stretch of the whole file.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { primaryLanguage, type Word } from "../../contract/wire.ts";
import { DEFAULT_MODEL_DIR, frontEndArgs, meanCepstrum, modelWithCmnInit, parseFeatParams } from "./cepstral-mean.ts";
import type { SpeechEngine, TranscribeOptions } from "./engine.ts";
import { EngineUnavailableError, PermanentChunkError, TransientChunkError } from "./errors.ts";
import { assertChunkWav } from "./wav-format.ts";

export interface PocketsphinxOptions {
  /** Binary name or path; default `pocketsphinx_continuous`. */
  readonly binary?: string;
  /** Sphinx's front end, for each input's cepstral mean; default `sphinx_fe` (sphinxbase-utils). */
  readonly frontEndBinary?: string;
  /** Kill the decoder after this long (a transient failure); default 10 min. */
  readonly timeoutMs?: number;
  /** Extra command-line arguments, e.g. `["-hmm", dir, "-lm", file, "-dict", file]` (default model: DEFAULT_MODEL_DIR). */
  readonly extraArgs?: readonly string[];
  /** Primary language subtags the loaded model handles; default `["en"]` (the en-us model). */
  readonly languages?: readonly string[];
}

const WORD_LINE = /^(\S+)\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+(-?\d+(?:\.\d+)?(?:e-?\d+)?)$/i;
const STDERR_KEEP = 16_000;

/** True for pocketsphinx's non-words: `<s>`, `</s>`, `<sil>`, `[NOISE]`, `++BREATH++`, `(NULL)`. */
export function isFillerToken(token: string): boolean {
  return /^<.*>$/.test(token) || /^\[.*\]$/.test(token) || /^\+\+.*\+\+$/.test(token) || /^\(.*\)$/.test(token);
}

/**
 * Parses `pocketsphinx_continuous -time yes` stdout: per utterance a hypothesis line and then
 * `word start end confidence` lines (times already relative to the file start). Fillers are
 * dropped, alternate-pronunciation suffixes (`to(2)`) stripped, confidence clamped to [0, 1].
 */
export function parsePocketsphinxOutput(stdout: string): Word[] {
  const words: Word[] = [];
  for (const line of stdout.split("\n")) {
    const m = WORD_LINE.exec(line.trim());
    if (!m) continue;
    const [, token = "", start = "0", end = "0", conf = "0"] = m;
    if (isFillerToken(token)) continue;
    const text = token.replace(/\(\d+\)$/, "");
    if (text.length === 0) continue;
    const s = Number(start);
    const e = Math.max(s, Number(end));
    const c = Number(conf);
    words.push({ text, start: s, end: e, confidence: Number.isFinite(c) ? Math.min(1, Math.max(0, c)) : 0 });
  }
  return words;
}

/**
 * Decoder flags every chunk gets. `-remove_noise no`: pocketsphinx's spectral noise subtraction
 * adapts its noise estimate as a stream goes on, so the same words decode differently depending
 * on where a chunk starts. Without it a chunk decodes like the same stretch of the whole file
 * (measured on a 114 s synthesized MP3: whole 13.2 % → 11.9 % WER, and chunked runs at 30-38 s
 * went from 14.2-17.4 % to 11.6-12.9 %).
 */
export const POCKETSPHINX_DEFAULT_ARGS: readonly string[] = ["-remove_noise", "no"];

export class PocketsphinxEngine implements SpeechEngine {
  readonly name = "pocketsphinx";
  readonly #binary: string;
  readonly #frontEnd: string;
  readonly #timeoutMs: number;
  readonly #extraArgs: readonly string[];
  readonly #languages: readonly string[];
  /** The acoustic model (`-hmm`, else DEFAULT_MODEL_DIR) and the arguments besides it. */
  readonly #modelDir: string;
  readonly #argsWithoutModel: readonly string[];
  /** The model's feat.params, read on the first decode and kept: the model does not change under a running engine. */
  #featParams: Promise<Array<[string, string]>> | undefined;

  constructor(opts: PocketsphinxOptions = {}) {
    this.#binary = opts.binary ?? "pocketsphinx_continuous";
    this.#frontEnd = opts.frontEndBinary ?? "sphinx_fe";
    this.#timeoutMs = opts.timeoutMs ?? 10 * 60_000;
    this.#extraArgs = [...POCKETSPHINX_DEFAULT_ARGS, ...(opts.extraArgs ?? [])];
    this.#languages = (opts.languages ?? ["en"]).map((l) => l.toLowerCase());
    const hmmAt = this.#extraArgs.lastIndexOf("-hmm");
    this.#modelDir = hmmAt >= 0 ? this.#extraArgs[hmmAt + 1]! : DEFAULT_MODEL_DIR;
    this.#argsWithoutModel = hmmAt >= 0 ? [...this.#extraArgs.slice(0, hmmAt), ...this.#extraArgs.slice(hmmAt + 2)] : this.#extraArgs;
  }

  async transcribe(wavPath: string, opts: TranscribeOptions): Promise<Word[]> {
    opts.signal.throwIfAborted();
    // Refuse rather than decode German as if it were English: the words would be confident nonsense.
    const primary = primaryLanguage(opts.language);
    if (!this.#languages.includes(primary)) {
      throw new PermanentChunkError(
        "engine_error",
        `pocketsphinx cannot transcribe language "${opts.language}": its model handles only ${this.#languages.join(", ")}; ` +
          `use the whisper engine (PODFLEET_ENGINE=whisper) for other languages`,
      );
    }
    await assertChunkWav(wavPath);
    const work = await fs.promises.mkdtemp(path.join(os.tmpdir(), "podfleet-pocketsphinx-"));
    try {
      const args = await this.#argsWithOwnMean(wavPath, work, opts.signal);
      const stdout = await this.#run(this.#binary, ["-infile", wavPath, "-time", "yes", ...args], opts.signal);
      return parsePocketsphinxOutput(stdout);
    } finally {
      await fs.promises.rm(work, { recursive: true, force: true });
    }
  }

  /**
   * The decoder's arguments with its CMN started at the input's own mean: `-hmm` pointing at a copy
   * of the model (links, in `work`) whose feat.params carries that mean. Unchanged for an input with
   * too little speech to say (under half a second).
   */
  async #argsWithOwnMean(wavPath: string, work: string, signal: AbortSignal): Promise<readonly string[]> {
    const featParams = await (this.#featParams ??= this.#readFeatParams());
    const cepstra = path.join(work, "cepstra.txt");
    await this.#run(
      this.#frontEnd,
      ["-i", wavPath, "-o", cepstra, "-mswav", "yes", "-ofmt", "text", ...frontEndArgs(featParams, this.#extraArgs)],
      signal,
    );
    const mean = meanCepstrum(await fs.promises.readFile(cepstra, "utf8"));
    if (!mean) return this.#extraArgs;
    return [...this.#argsWithoutModel, "-hmm", modelWithCmnInit(this.#modelDir, featParams, mean, path.join(work, "model"))];
  }

  async #readFeatParams(): Promise<Array<[string, string]>> {
    try {
      return parseFeatParams(await fs.promises.readFile(path.join(this.#modelDir, "feat.params"), "utf8"));
    } catch (e) {
      this.#featParams = undefined; // a model installed later is read then
      throw new EngineUnavailableError(`pocketsphinx model ${this.#modelDir} has no readable feat.params: install pocketsphinx-en-us`, { cause: e });
    }
  }

  /** Runs `binary` (the decoder or its front end); resolves with stdout on exit 0, rejects with a classified error otherwise. */
  #run(binary: string, args: string[], signal: AbortSignal): Promise<string> {
    const packages = binary === this.#frontEnd ? "sphinxbase-utils" : "pocketsphinx and pocketsphinx-en-us";
    return new Promise<string>((resolve, reject) => {
      const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
      const out: Buffer[] = [];
      let err = "";
      let settled = false;
      let timedOut = false;
      child.stdout.on("data", (b: Buffer) => out.push(b));
      child.stderr.on("data", (b: Buffer) => {
        err = (err + b.toString("utf8")).slice(-STDERR_KEEP);
      });
      const finish = (fn: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        fn();
      };
      const onAbort = (): void => {
        child.kill("SIGKILL");
        finish(() => reject(signal.reason));
      };
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, this.#timeoutMs);
      signal.addEventListener("abort", onAbort, { once: true });

      child.once("error", (e: NodeJS.ErrnoException) => {
        finish(() =>
          reject(
            e.code === "ENOENT"
              ? new EngineUnavailableError(`${binary} not found: install ${packages}`, { cause: e })
              : new TransientChunkError(`could not run ${binary}: ${e.message}`, { cause: e }),
          ),
        );
      });
      child.once("close", (code, sig) => {
        finish(() => {
          if (timedOut) reject(new TransientChunkError(`${binary} timed out after ${this.#timeoutMs} ms`));
          else if (sig !== null) reject(new TransientChunkError(`${binary} killed by ${sig}`));
          else if (code !== 0) reject(new PermanentChunkError("engine_error", `${binary} exited ${code}: ${stderrTail(err)}`));
          else resolve(Buffer.concat(out).toString("utf8"));
        });
      });
    });
  }
}

/** The last meaningful stderr lines (pocketsphinx writes hundreds of INFO lines first). */
function stderrTail(stderr: string): string {
  const lines = stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("INFO:"));
  return lines.slice(-5).join(" | ").slice(-1000) || "(no error output)";
}

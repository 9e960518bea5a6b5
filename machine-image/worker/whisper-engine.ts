/**
 * Speech engine backed by whisper.cpp's `whisper-server`, run as a child process on loopback.
 * The model is loaded once, when the server starts (`open()`, at worker start), and stays hot for
 * every chunk. A separate process rather than an in-process Node binding: a native crash or hang
 * kills only the server, a timeout can always be enforced (kill and restart; a native call in a
 * binding cannot be cancelled), and the image ships the same binary a GPU box would (CUDA build).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { availableParallelism } from "node:os";
import { primaryLanguage, type Word } from "../../contract/wire.ts";
import type { SpeechEngine, TranscribeOptions } from "./engine.ts";
import { EngineUnavailableError, PermanentChunkError, TransientChunkError } from "./errors.ts";
import { assertChunkWav } from "./wav-format.ts";
import { checkModelFile } from "./whisper-model.ts";

export interface WhisperEngineOptions {
  /** Path of the ggml model file (checked at `open()`). */
  readonly modelPath: string;
  /** `whisper-server` binary name or path; default `whisper-server`. */
  readonly serverBinary?: string;
  /** Decoder threads; default every core of the machine. */
  readonly threads?: number;
  /** Longest one chunk may take before the server is killed (a transient failure); default 15 min. */
  readonly timeoutMs?: number;
  /** Longest loading the model may take; default 2 min. */
  readonly startTimeoutMs?: number;
  /** Extra server flags, e.g. `["--no-gpu"]` or `["-bs", "5"]`. */
  readonly extraArgs?: readonly string[];
}

interface VerboseSegment {
  start?: number;
  end?: number;
  text?: string;
  words?: Array<{ word?: string; start?: number; end?: number; probability?: number }>;
}

const STDERR_KEEP = 8000;

/**
 * Joins whisper.cpp's token pieces into words: a piece that starts with a space starts a word,
 * others extend the current one. Special tokens (`[_BEG_]`, `<|...|>`) and empty pieces are dropped.
 */
export function wordsFromVerboseJson(body: unknown): Word[] {
  const segments = (body as { segments?: VerboseSegment[] } | null)?.segments;
  if (!Array.isArray(segments)) throw new TransientChunkError("whisper-server answered without segments");
  const words: Word[] = [];
  let current: { text: string; start: number; end: number; probs: number[] } | undefined;
  const flush = (): void => {
    const text = current?.text.trim();
    if (current && text) {
      const confidence = current.probs.reduce((a, b) => a + b, 0) / Math.max(1, current.probs.length);
      words.push({ text, start: current.start, end: Math.max(current.start, current.end), confidence: Math.min(1, Math.max(0, confidence)) });
    }
    current = undefined;
  };
  for (const seg of segments) {
    for (const piece of seg.words ?? []) {
      const raw = piece.word ?? "";
      if (raw.trim() === "" || /^\s*(\[_[A-Z0-9_]+\]|<\|.*\|>)\s*$/.test(raw)) continue;
      const start = Math.max(0, Number(piece.start ?? seg.start ?? 0));
      const end = Math.max(start, Number(piece.end ?? start));
      const p = Number(piece.probability ?? 0);
      if (current === undefined || /^\s/.test(raw)) {
        flush();
        current = { text: raw, start, end, probs: [p] };
      } else {
        current.text += raw;
        current.end = end;
        current.probs.push(p);
      }
    }
    flush(); // a word never spans two segments
  }
  return words;
}

/**
 * A port for the whisper-server child. The worker image ships without orchestrator code, so this
 * stays here rather than importing orchestrator/free-port.ts.
 */
async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export class WhisperEngine implements SpeechEngine {
  readonly name = "whisper";
  readonly #opts: Required<Omit<WhisperEngineOptions, "extraArgs">> & { extraArgs: readonly string[] };
  #server: { child: ChildProcess; url: string; exited: Promise<void> } | undefined;
  #stderr = "";
  /** One inference at a time: the server decodes one request at a time anyway. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(opts: WhisperEngineOptions) {
    this.#opts = {
      modelPath: opts.modelPath,
      serverBinary: opts.serverBinary ?? "whisper-server",
      threads: opts.threads ?? availableParallelism(),
      timeoutMs: opts.timeoutMs ?? 15 * 60_000,
      startTimeoutMs: opts.startTimeoutMs ?? 120_000,
      extraArgs: opts.extraArgs ?? [],
    };
  }

  /** Checks the model file and starts the server with the model loaded. Safe to call again. */
  async open(): Promise<void> {
    if (this.#server) return;
    await checkModelFile(this.#opts.modelPath);
    const port = await freeLoopbackPort();
    const args = [
      "-m",
      this.#opts.modelPath,
      "-t",
      String(this.#opts.threads),
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      ...this.#opts.extraArgs,
    ];
    const child = spawn(this.#opts.serverBinary, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.#stderr = "";
    child.stderr.on("data", (b: Buffer) => (this.#stderr = (this.#stderr + b.toString("utf8")).slice(-STDERR_KEEP)));
    const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
    const spawnFailed = new Promise<never>((_, reject) =>
      child.once("error", (e: NodeJS.ErrnoException) =>
        reject(
          e.code === "ENOENT"
            ? new EngineUnavailableError(
                `${this.#opts.serverBinary} not found: build whisper.cpp (see machine-image/Dockerfile) or set WHISPER_SERVER_BIN`,
                { cause: e },
              )
            : new EngineUnavailableError(`could not run ${this.#opts.serverBinary}: ${e.message}`, { cause: e }),
        ),
      ),
    );
    spawnFailed.catch(() => undefined);
    const url = `http://127.0.0.1:${port}`;
    this.#server = { child, url, exited };
    const deadline = Date.now() + this.#opts.startTimeoutMs;
    try {
      for (;;) {
        const up = await Promise.race([
          fetch(`${url}/`, { signal: AbortSignal.timeout(2000) }).then(
            async (r) => (await r.arrayBuffer(), r.ok),
            () => false,
          ),
          spawnFailed,
          exited.then(() => {
            throw new EngineUnavailableError(`whisper-server exited while loading ${this.#opts.modelPath}: ${this.#stderrTail()}`);
          }),
        ]);
        if (up) return;
        if (Date.now() > deadline)
          throw new EngineUnavailableError(`whisper-server did not load ${this.#opts.modelPath} within ${this.#opts.startTimeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Stops the server (SIGTERM, then SIGKILL after 3 s). */
  async close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server || server.child.exitCode !== null || server.child.signalCode !== null) return;
    server.child.kill("SIGTERM");
    const timer = setTimeout(() => server.child.kill("SIGKILL"), 3000);
    await server.exited;
    clearTimeout(timer);
  }

  transcribe(wavPath: string, opts: TranscribeOptions): Promise<Word[]> {
    const run = this.#queue.then(() => this.#transcribe(wavPath, opts));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #transcribe(wavPath: string, opts: TranscribeOptions): Promise<Word[]> {
    opts.signal.throwIfAborted();
    await assertChunkWav(wavPath);
    await this.open(); // restarts the server after a timeout killed it
    const server = this.#server!;
    const form = new FormData();
    form.set("file", new Blob([await readFile(wavPath)], { type: "audio/wav" }), "chunk.wav");
    form.set("response_format", "verbose_json");
    form.set("temperature", "0");
    form.set("language", primaryLanguage(opts.language) || "auto");
    const timeout = AbortSignal.timeout(this.#opts.timeoutMs);
    const signal = AbortSignal.any([opts.signal, timeout]);
    let res: Response;
    let body: unknown;
    try {
      res = await fetch(`${server.url}/inference`, { method: "POST", body: form, signal });
      body = await res.json();
    } catch (err) {
      // A request we gave up on keeps the native decoder busy: kill it, the next call restarts it.
      await this.close();
      if (opts.signal.aborted) throw opts.signal.reason;
      if (timeout.aborted) throw new TransientChunkError(`whisper-server timed out after ${this.#opts.timeoutMs} ms`, { cause: err });
      throw new TransientChunkError(`whisper-server failed: ${err instanceof Error ? err.message : String(err)}; ${this.#stderrTail()}`, {
        cause: err,
      });
    }
    const error = (body as { error?: unknown } | null)?.error;
    if (!res.ok || error !== undefined) {
      const text = error === undefined ? "no error text" : typeof error === "string" ? error : JSON.stringify(error);
      throw new PermanentChunkError("engine_error", `whisper-server refused the chunk (${res.status}): ${text}`);
    }
    return wordsFromVerboseJson(body);
  }

  #stderrTail(): string {
    const lines = this.#stderr.split("\n").filter((l) => /error|fail|invalid|unknown/i.test(l));
    return (lines.slice(-4).join(" | ") || this.#stderr.split("\n").slice(-3).join(" | ")).slice(-800) || "(no output)";
  }
}

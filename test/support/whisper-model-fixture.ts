/**
 * Writes a ggml Whisper model file with random weights, in the layout whisper.cpp's
 * whisper_model_load reads: magic, 11 int32 hyper-parameters, mel filters, vocabulary, then
 * tensors (n_dims, name length, type, dims innermost first, name, data). ftype 1: weight
 * matrices and convolution kernels are F16 (whisper.cpp's CPU im2col needs F16 kernels), biases,
 * norms and positional embeddings F32. The transcripts are gibberish; the point is to exercise load, decode and timing
 * plumbing with real whisper.cpp code and no downloaded weights. Dimensions default to a model far
 * smaller than tiny (64 wide, one layer) so a test runs in seconds; pass tiny's (384, 4, 6 heads)
 * to measure real-time factors with tiny's compute cost.
 */
import { open } from "node:fs/promises";

export interface FixtureModelDims {
  readonly state?: number;
  readonly heads?: number;
  readonly layers?: number;
}

const N_VOCAB = 51864; // English-only vocabulary size: whisper.cpp derives special token ids from it
const N_AUDIO_CTX = 1500;
const N_TEXT_CTX = 448;
const N_MELS = 80;
const N_FFT = 201;

/** Deterministic xorshift PRNG so every run writes the same file. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

/** IEEE 754 half precision bits of `v` (round toward zero; enough for small random weights). */
function toHalf(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = x & 0x7fffff;
  if (exp <= 0) return sign; // too small: signed zero
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | (mant >>> 13);
}

/** Writes the model to `path` and returns its size in bytes. */
export async function writeRandomWhisperModel(path: string, dims: FixtureModelDims = {}): Promise<number> {
  const S = dims.state ?? 64;
  const H = dims.heads ?? 2;
  const L = dims.layers ?? 1;
  const rand = prng(0x5eed);
  const fh = await open(path, "w");
  let bytes = 0;
  const write = async (buf: Buffer) => {
    await fh.write(buf);
    bytes += buf.length;
  };
  const ints = (...v: number[]) => {
    const b = Buffer.alloc(4 * v.length);
    v.forEach((n, i) => b.writeInt32LE(n, 4 * i));
    return b;
  };
  const floats = (n: number, f: () => number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = f();
    return Buffer.from(a.buffer);
  };
  const halves = (n: number, f: () => number) => {
    const b = Buffer.alloc(2 * n);
    for (let i = 0; i < n; i++) b.writeUInt16LE(toHalf(f()), 2 * i);
    return b;
  };
  const small = () => (rand() - 0.5) * 0.1;
  const one = () => 1;
  const tensor = async (name: string, shape: number[], init: () => number = small) => {
    const nameBuf = Buffer.from(name, "utf8");
    const f16 = /\.weight$/.test(name) && shape.length >= 2 && shape[0]! > 1;
    await write(Buffer.concat([ints(shape.length, nameBuf.length, f16 ? 1 : 0), ints(...shape), nameBuf]));
    const n = shape.reduce((a, b) => a * b, 1);
    await write(f16 ? halves(n, init) : floats(n, init));
  };
  try {
    await write(ints(0x67676d6c, N_VOCAB, N_AUDIO_CTX, S, H, L, N_TEXT_CTX, S, H, L, N_MELS, 1));
    await write(Buffer.concat([ints(N_MELS, N_FFT), floats(N_MELS * N_FFT, () => rand() * 0.01)]));
    const tokens = 50256; // ordinary tokens; whisper.cpp names the special ones itself
    const parts: Buffer[] = [ints(tokens)];
    for (let i = 0; i < tokens; i++) {
      // whisper.cpp suppresses the blank token " " (220 in GPT-2's vocabulary) by name: it must exist
      const t = Buffer.from(i === 220 ? " " : ` w${i}`);
      parts.push(ints(t.length), t);
    }
    await write(Buffer.concat(parts));

    const block = async (prefix: string, cross: boolean) => {
      await tensor(`${prefix}.mlp_ln.weight`, [S], one);
      await tensor(`${prefix}.mlp_ln.bias`, [S]);
      await tensor(`${prefix}.mlp.0.weight`, [S, 4 * S]);
      await tensor(`${prefix}.mlp.0.bias`, [4 * S]);
      await tensor(`${prefix}.mlp.2.weight`, [4 * S, S]);
      await tensor(`${prefix}.mlp.2.bias`, [S]);
      for (const attn of cross ? ["attn", "cross_attn"] : ["attn"]) {
        await tensor(`${prefix}.${attn}_ln.weight`, [S], one);
        await tensor(`${prefix}.${attn}_ln.bias`, [S]);
        await tensor(`${prefix}.${attn}.query.weight`, [S, S]);
        await tensor(`${prefix}.${attn}.query.bias`, [S]);
        await tensor(`${prefix}.${attn}.key.weight`, [S, S]);
        await tensor(`${prefix}.${attn}.value.weight`, [S, S]);
        await tensor(`${prefix}.${attn}.value.bias`, [S]);
        await tensor(`${prefix}.${attn}.out.weight`, [S, S]);
        await tensor(`${prefix}.${attn}.out.bias`, [S]);
      }
    };
    await tensor("encoder.positional_embedding", [S, N_AUDIO_CTX]);
    await tensor("encoder.conv1.weight", [3, N_MELS, S]);
    await tensor("encoder.conv1.bias", [1, S]);
    await tensor("encoder.conv2.weight", [3, S, S]);
    await tensor("encoder.conv2.bias", [1, S]);
    await tensor("encoder.ln_post.weight", [S], one);
    await tensor("encoder.ln_post.bias", [S]);
    for (let i = 0; i < L; i++) await block(`encoder.blocks.${i}`, false);
    await tensor("decoder.positional_embedding", [S, N_TEXT_CTX]);
    await tensor("decoder.token_embedding.weight", [S, N_VOCAB]);
    await tensor("decoder.ln.weight", [S], one);
    await tensor("decoder.ln.bias", [S]);
    for (let i = 0; i < L; i++) await block(`decoder.blocks.${i}`, true);
  } finally {
    await fh.close();
  }
  return bytes;
}

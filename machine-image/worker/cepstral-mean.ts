/**
 * Where pocketsphinx starts its cepstral mean normalisation (CMN). Decoding a stream, pocketsphinx
 * subtracts a running mean of the cepstra from every frame; the mean starts at the model's
 * `-cmninit` and is updated only every 8 s of speech and at each utterance's end. A chunk decoded
 * on its own therefore spends its first utterance on a mean that fits no voice (the en-us model's
 * starts at c0 = 41 where a synthesized voice sits near 55), and mis-hears words the same stretch
 * decodes correctly in the whole file, where the mean has long settled.
 *
 * So each input is decoded with `-cmninit` set to its own mean: Sphinx's front end (`sphinx_fe`,
 * Debian package sphinxbase-utils, the same front end pocketsphinx runs) writes the cepstra with the
 * model's feature parameters, and the mean is taken over the frames pocketsphinx would add to its
 * own (c0 ≥ 0). pocketsphinx reads `-cmninit` from the model's feat.params, which overrides the
 * command line, so the decoder gets a model directory of its own: links to the model's files and a
 * feat.params with the new `-cmninit`.
 */
import fs from "node:fs";
import path from "node:path";

/** The acoustic model Debian's pocketsphinx-en-us installs (pocketsphinx's built-in default). */
export const DEFAULT_MODEL_DIR = "/usr/share/pocketsphinx/model/en-us/en-us";

/** Fewer frames than this (0.5 s of speech) say too little about a voice: keep the model's own start. */
export const MIN_MEAN_FRAMES = 50;

/** feat.params flags that configure the front end (the rest — -feat, -cmn, -agc, … — are the decoder's). */
const FRONT_END_FLAGS = new Set([
  "-alpha",
  "-dither",
  "-doublebw",
  "-frate",
  "-lifter",
  "-lowerf",
  "-ncep",
  "-nfft",
  "-nfilt",
  "-remove_dc",
  "-remove_noise",
  "-remove_silence",
  "-round_filters",
  "-samprate",
  "-transform",
  "-unit_area",
  "-upperf",
  "-vad_postspeech",
  "-vad_prespeech",
  "-vad_startspeech",
  "-vad_threshold",
  "-warp_params",
  "-warp_type",
  "-wlen",
]);

/** Parses a feat.params file ("-flag value" per line) into [flag, value] pairs, in order. */
export function parseFeatParams(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const line of text.split("\n")) {
    const m = /^\s*(-\S+)\s+(\S+)\s*$/.exec(line);
    if (m) out.push([m[1]!, m[2]!]);
  }
  return out;
}

/**
 * `sphinx_fe` arguments that compute the cepstra the decoder would: the model's front-end
 * parameters, then the decoder's own front-end flags (`decoderArgs`, e.g. `-remove_noise no`),
 * which win as they do in pocketsphinx.
 */
export function frontEndArgs(featParams: ReadonlyArray<[string, string]>, decoderArgs: readonly string[]): string[] {
  const flags = new Map<string, string>();
  for (const [flag, value] of featParams) if (FRONT_END_FLAGS.has(flag)) flags.set(flag, value);
  for (let i = 0; i + 1 < decoderArgs.length; i += 2) {
    const flag = decoderArgs[i]!;
    if (FRONT_END_FLAGS.has(flag)) flags.set(flag, decoderArgs[i + 1]!);
  }
  return [...flags].flat();
}

/**
 * The mean cepstrum of `sphinx_fe -ofmt text` output (one frame per line, c0 first), over the frames
 * pocketsphinx's live CMN accumulates (c0 ≥ 0: it skips frames of no energy). Undefined when fewer than
 * MIN_MEAN_FRAMES frames count.
 */
export function meanCepstrum(text: string): number[] | undefined {
  let sum: number[] | undefined;
  let frames = 0;
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const c = line.trim().split(/\s+/).map(Number);
    if (!(c[0]! >= 0) || c.some((x) => !Number.isFinite(x))) continue;
    sum ??= new Array<number>(c.length).fill(0);
    if (c.length !== sum.length) throw new Error(`sphinx_fe wrote frames of ${sum.length} and ${c.length} cepstra`);
    for (let i = 0; i < c.length; i++) sum[i]! += c[i]!;
    frames++;
  }
  if (!sum || frames < MIN_MEAN_FRAMES) return undefined;
  return sum.map((s) => s / frames);
}

/**
 * Writes a model directory at `dir` (created): a link to each file of `modelDir` and a
 * feat.params whose `-cmninit` is `mean` (two decimals, as pocketsphinx logs it). Returns `dir`.
 */
export function modelWithCmnInit(modelDir: string, featParams: ReadonlyArray<[string, string]>, mean: readonly number[], dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const name of fs.readdirSync(modelDir)) {
    if (name !== "feat.params") fs.symlinkSync(path.join(modelDir, name), path.join(dir, name));
  }
  const init = mean.map((x) => x.toFixed(2)).join(",");
  const lines = featParams.filter(([flag]) => flag !== "-cmninit").map(([flag, value]) => `${flag} ${value}`);
  fs.writeFileSync(path.join(dir, "feat.params"), [...lines, `-cmninit ${init}`, ""].join("\n"));
  return dir;
}

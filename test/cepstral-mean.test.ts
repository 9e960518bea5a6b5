/**
 * Each pocketsphinx decode starts its cepstral mean normalisation at the input's own mean
 * (machine-image/worker/cepstral-mean.ts). Checked against pocketsphinx itself: the mean Sphinx's
 * front end gives is close to the one pocketsphinx settles on over the same speech, and a decoder
 * given the model copy really starts there (its log says where it starts). The model's feat.params
 * overrides `-cmninit` on the command line, which is why the copy exists: passing the flag alone
 * leaves the model's 41.00 start in place.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import {
  DEFAULT_MODEL_DIR,
  frontEndArgs,
  meanCepstrum,
  MIN_MEAN_FRAMES,
  modelWithCmnInit,
  parseFeatParams,
} from "../machine-image/worker/cepstral-mean.ts";
import { EngineUnavailableError } from "../machine-image/worker/errors.ts";
import { POCKETSPHINX_DEFAULT_ARGS, PocketsphinxEngine } from "../machine-image/worker/pocketsphinx-engine.ts";
import { SHORT_TEXT } from "./support/corpus.ts";
import { synthesizeEpisode } from "./support/speech.ts";

const run = promisify(execFile);

/** The CMN pocketsphinx logs: where it started ("Update from") and the last value it settled on ("Update to"). */
function loggedCmn(stderr: string): { from: number[]; to: number[] } {
  const vectors = (label: string): number[][] =>
    [...stderr.matchAll(new RegExp(`Update ${label}\\s+<([^>]*)>`, "g"))].map((m) => m[1]!.trim().split(/\s+/).map(Number));
  const from = vectors("from")[0];
  const to = vectors("to").at(-1);
  assert.ok(from && to, `pocketsphinx logged no CMN update:\n${stderr.slice(-2000)}`);
  return { from, to };
}

async function decodeLog(wav: string, args: readonly string[]): Promise<string> {
  const { stderr } = await run("pocketsphinx_continuous", ["-infile", wav, ...POCKETSPHINX_DEFAULT_ARGS, ...args], { maxBuffer: 64 << 20 });
  return stderr;
}

test("the front end's arguments are the model's front-end parameters, with the decoder's own flags winning", () => {
  const params = parseFeatParams(fs.readFileSync(path.join(DEFAULT_MODEL_DIR, "feat.params"), "utf8"));
  const args = frontEndArgs(params, ["-remove_noise", "no", "-lw", "7"]);
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) flags.set(args[i]!, args[i + 1]!);
  // the en-us model's own front end (its feat.params), not sphinx_fe's defaults (40 filters, legacy transform)
  assert.equal(flags.get("-nfilt"), "25");
  assert.equal(flags.get("-transform"), "dct");
  assert.equal(flags.get("-lifter"), "22");
  assert.equal(flags.get("-remove_noise"), "no");
  // decoder-only flags stay out: sphinx_fe would refuse them
  for (const f of ["-feat", "-cmn", "-cmninit", "-agc", "-model", "-svspec", "-lw"]) assert.ok(!flags.has(f), `${f} passed to the front end`);
});

test("the mean counts only frames with energy, and needs half a second of them", () => {
  const frame = (c0: number, c1: number): string => `${c0} ${c1}`;
  const lines = [...Array.from({ length: MIN_MEAN_FRAMES }, (_, i) => frame(50 + (i % 2) * 2, i % 2 ? -4 : 2)), frame(-3, 100), ""];
  assert.deepEqual(meanCepstrum(lines.join("\n")), [51, -1]);
  assert.equal(meanCepstrum(lines.slice(1).join("\n")), undefined, "49 frames with energy are too few");
  assert.throws(() => meanCepstrum([...lines.slice(0, -1), "1 2 3"].join("\n")), /frames of 2 and 3 cepstra/);
});

test("a decoder given the model copy starts its CMN at the input's own mean, near where pocketsphinx settles", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-cmn-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const episode = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs, voice: "awb", dir });

  const params = parseFeatParams(fs.readFileSync(path.join(DEFAULT_MODEL_DIR, "feat.params"), "utf8"));
  const cepstra = path.join(dir, "cepstra.txt");
  await run("sphinx_fe", ["-i", episode.path, "-o", cepstra, "-mswav", "yes", "-ofmt", "text", ...frontEndArgs(params, POCKETSPHINX_DEFAULT_ARGS)]);
  const mean = meanCepstrum(fs.readFileSync(cepstra, "utf8"));
  assert.ok(mean?.length === 13, "13 cepstra per frame");

  // The model's own start is far from this voice; pocketsphinx, left alone over the whole file, ends near our mean.
  const plain = loggedCmn(await decodeLog(episode.path, []));
  assert.equal(plain.from[0], 41, "the en-us model starts c0 at 41.00");
  assert.ok(Math.abs(plain.to[0]! - mean[0]!) < 2, `c0: pocketsphinx settled at ${plain.to[0]}, the front end's mean is ${mean[0]}`);
  const far = (a: readonly number[], b: readonly number[]): number => Math.max(...a.map((x, i) => Math.abs(x - b[i]!)));
  assert.ok(
    far(plain.to, mean) < far(plain.to, plain.from) / 3,
    `settled ${plain.to.join(",")}, mean ${mean.join(",")}, model start ${plain.from.join(",")}`,
  );

  // `-cmninit` on the command line is overridden by the model's feat.params; the model copy is not.
  const flagOnly = loggedCmn(await decodeLog(episode.path, ["-cmninit", mean.map((x) => x.toFixed(2)).join(",")]));
  assert.equal(flagOnly.from[0], 41, "the command-line flag alone changes nothing");
  const copy = modelWithCmnInit(DEFAULT_MODEL_DIR, params, mean, path.join(dir, "model"));
  const started = loggedCmn(await decodeLog(episode.path, ["-hmm", copy]));
  assert.deepEqual(
    started.from,
    mean.map((x) => Number(x.toFixed(2))),
  );
});

test("without sphinx_fe the engine says what to install", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-cmn-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const episode = await synthesizeEpisode({ paragraphs: SHORT_TEXT.paragraphs.slice(0, 1), dir });
  const engine = new PocketsphinxEngine({ frontEndBinary: path.join(dir, "no-such-sphinx_fe") });
  await assert.rejects(
    engine.transcribe(episode.path, { language: "en", signal: AbortSignal.timeout(60_000) }),
    (e: unknown) => e instanceof EngineUnavailableError && /no-such-sphinx_fe not found: install sphinxbase-utils/.test(e.message),
  );
});

/**
 * The accuracy benchmark's placement of differences (bench/word-diff.ts): the edits between the
 * unchunked and the stitched run, each at its time, and their split by place against the seams.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { editPlaces, wordEdits } from "../bench/word-diff.ts";

const words = (spec: string): Array<{ text: string; start: number; end: number }> =>
  spec.split(" ").map((w) => {
    const [text = "", at = "0"] = w.split("@");
    return { text, start: Number(at), end: Number(at) + 0.4 };
  });

test("wordEdits: a substitution, a dropped word and an extra word, each at its own time", () => {
  const direct = words("an@1 old@2 sailor@3 said@4 that@5 it@6 rained@7 all@8 week@9");
  const stitched = words("an@1 cold@2 sailor@3 that@5 it@6 rained@7 all@8 hall@8.5 week@9");
  assert.deepEqual(wordEdits(direct, stitched), [
    { kind: "substitution", at: 2.2 },
    { kind: "deletion", at: 4.2 },
    { kind: "insertion", at: 8.7 },
  ]);
  assert.deepEqual(wordEdits(direct, direct), []);
  assert.deepEqual(wordEdits([], words("a@1")), [{ kind: "insertion", at: 1.2 }]);
});

test("editPlaces: before a seam, just after it, in the cold stretch after that, elsewhere; with the seconds each covers", () => {
  const edits = [0.5, 9, 10.5, 15, 25, 40].map((at) => ({ kind: "substitution" as const, at }));
  const p = editPlaces(edits, [10], 60, 2, 10);
  assert.deepEqual(
    { before: p.beforeSeam, at: p.atSeamStart, after: p.afterSeam, elsewhere: p.elsewhere },
    { before: 1, at: 1, after: 1, elsewhere: 3 },
  );
  assert.ok(Math.abs(p.beforeSeamSec - 2) < 0.02 && Math.abs(p.atSeamStartSec - 2) < 0.02, `${p.beforeSeamSec}, ${p.atSeamStartSec}`);
  assert.ok(Math.abs(p.afterSeamSec - 10) < 0.02 && Math.abs(p.elsewhereSec - 46) < 0.02, `${p.afterSeamSec}, ${p.elsewhereSec}`);
});

/**
 * Hostile bytes for ffprobe/ffmpeg: a "podcast" that is an HLS playlist, an ffconcat script or a
 * DASH manifest names other files, which the tools would open and decode in its place. They are
 * refused (not_audio) and nothing they name is opened: each names a FIFO whose opening a shell
 * child watches (its open for writing completes only when someone opens the FIFO to read). Every
 * container podcasts use still decodes, and one outside the allowed list is refused.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { ALLOWED_DEMUXERS, confinedInput, decodeToPcm, probeAudio } from "../orchestrator/ingest/audio-decode.ts";
import { BadInputError } from "../orchestrator/ingest/ingest-errors.ts";
import { playlistKind } from "../orchestrator/ingest/playlist-sniff.ts";
import { contentTypeForContainer } from "../orchestrator/ingest/rendition.ts";
import { authHeaders } from "./support/auth.ts";
import { programmableServer, startStack, waitFor, type CleanupContext } from "./support/ingest-stack.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "podfleet-hostile-media-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A FIFO at `fifoPath` and a child that reports when anyone opens it for reading. */
function fifoWitness(t: CleanupContext, fifoPath: string): { opened: () => boolean } {
  execFileSync("mkfifo", [fifoPath]);
  let opened = false;
  const child = spawn("sh", ["-c", 'exec 3>"$0" && echo opened', fifoPath], { stdio: ["ignore", "pipe", "ignore"] });
  child.stdout.on("data", () => (opened = true));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { opened: () => opened };
}

function hlsPlaylist(target: string): string {
  return `#EXTM3U\n#EXT-X-TARGETDURATION:7\n#EXTINF:7,\n${target}\n#EXT-X-ENDLIST\n`;
}

function tone(file: string, codecArgs: string[]): string {
  execFileSync("ffmpeg", ["-loglevel", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=440:duration=2", ...codecArgs, file]);
  return file;
}

describe("the tools are confined to the input they are given", () => {
  test("unconfined ffprobe follows an HLS playlist to a local file; confined ffprobe and ffmpeg refuse it", async (t) => {
    const dir = fs.mkdtempSync(path.join(tmp, "confine-"));
    // control: the plain tool opens what the playlist names (this is the attack, and proves the witness sees it)
    const control = fifoWitness(t, path.join(dir, "control.mp3"));
    fs.writeFileSync(path.join(dir, "control.source"), hlsPlaylist(path.join(dir, "control.mp3")));
    spawnSync("ffprobe", ["-v", "error", path.join(dir, "control.source")], { timeout: 10_000 });
    await waitFor("the control open", () => (control.opened() ? true : undefined), 5_000);

    const secret = fifoWitness(t, path.join(dir, "secret.mp3"));
    const playlist = path.join(dir, "episode.source");
    fs.writeFileSync(playlist, hlsPlaylist(path.join(dir, "secret.mp3")));
    const probe = spawnSync("ffprobe", ["-v", "error", "-show_format", "-of", "json", ...confinedInput(playlist)], {
      timeout: 10_000,
      encoding: "utf8",
    });
    assert.notEqual(probe.status, 0, "ffprobe refused the playlist");
    assert.match(probe.stderr, /not on whitelist/);
    const decode = spawnSync("ffmpeg", ["-nostdin", "-v", "error", ...confinedInput(playlist), "-f", "null", "-"], {
      timeout: 10_000,
      encoding: "utf8",
    });
    assert.notEqual(decode.status, 0, "ffmpeg refused the playlist");
    await new Promise((r) => setTimeout(r, 200)); // a late open would show up here
    assert.equal(secret.opened(), false, "the file the playlist names was never opened");
  });

  const formats: Array<[string, string[]]> = [
    ["mp3", ["-c:a", "libmp3lame"]],
    ["m4a", ["-c:a", "aac"]],
    ["aac", ["-c:a", "aac"]],
    ["ogg", ["-c:a", "libvorbis"]],
    ["opus", ["-c:a", "libopus"]],
    ["webm", ["-c:a", "libopus"]],
    ["mkv", ["-c:a", "flac"]],
    ["wav", ["-c:a", "pcm_s16le"]],
    ["flac", ["-c:a", "flac"]],
    ["aiff", ["-c:a", "pcm_s16be"]],
    ["wma", ["-c:a", "wmav2"]],
  ];
  for (const [ext, codec] of formats) {
    test(`a .${ext} episode still probes and decodes`, async () => {
      const file = tone(path.join(tmp, `tone.${ext}`), codec);
      const probe = await probeAudio(file);
      assert.ok(Math.abs((probe.durationSec ?? 0) - 2) < 0.1, `duration ${probe.durationSec}`);
      assert.notEqual(contentTypeForContainer(probe.formatName), null, `a content type for ${probe.formatName}`);
      const samples = await decodeToPcm(file, `${file}.pcm`);
      assert.ok(Math.abs(samples - 32_000) < 1_000, `${samples} samples`);
    });
  }

  test("a real audio container outside the allowed list (Sun AU) is refused by the list itself", async () => {
    assert.ok(!(ALLOWED_DEMUXERS as readonly string[]).includes("au"));
    const file = tone(path.join(tmp, "tone.au"), ["-c:a", "pcm_s16be"]);
    const err = await probeAudio(file).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof BadInputError, `got ${String(err)}`);
    assert.equal(err.code, "not_audio");
    assert.match(err.message, /supported container.*not on whitelist/);
    assert.doesNotMatch(err.message, new RegExp(tmp), "no server path in the message");
  });
});

describe("playlists submitted as episodes fail with not_audio and read nothing local", () => {
  async function failedEpisode(base: string, id: string): Promise<{ status: string; error: string }> {
    return waitFor(`episode ${id} to fail`, async () => {
      const view = (await (await fetch(`${base}/v1/episodes/${id}`, { headers: authHeaders(base) })).json()) as { status: string; error: string };
      assert.ok(["received", "ingesting", "failed"].includes(view.status), `unexpected status ${view.status}`);
      return view.status === "failed" ? view : undefined;
    });
  }

  async function upload(base: string, body: string): Promise<string> {
    const res = await fetch(`${base}/v1/episodes`, { method: "POST", body, headers: { "content-type": "audio/mpeg", ...authHeaders(base) } });
    assert.equal(res.status, 202, await res.clone().text());
    return ((await res.json()) as { id: string }).id;
  }

  async function assertNoTranscript(base: string, id: string): Promise<void> {
    const res = await fetch(`${base}/v1/episodes/${id}/transcript.txt`);
    assert.ok(res.status === 404 || res.status === 409, `no transcript was made (HTTP ${res.status})`);
    await res.body?.cancel();
  }

  test("an uploaded HLS playlist naming a real local MP3, and one naming a FIFO", async (t) => {
    const orch = await startStack(t);
    const local = tone(path.join(tmp, "local-episode.mp3"), ["-c:a", "libmp3lame"]);
    const real = await upload(orch.url, hlsPlaylist(local));
    const failed = await failedEpisode(orch.url, real);
    assert.match(failed.error, /not an audio file: it is an HLS\/M3U playlist/);
    await assertNoTranscript(orch.url, real);

    const fifo = fifoWitness(t, path.join(tmp, "upload-secret.mp3"));
    const id = await upload(orch.url, hlsPlaylist(path.join(tmp, "upload-secret.mp3")));
    assert.match((await failedEpisode(orch.url, id)).error, /HLS\/M3U playlist/);
    assert.equal(fifo.opened(), false);
    await assertNoTranscript(orch.url, id);
  });

  test("an uploaded ffconcat script naming a file beside the upload, and one by absolute path", async (t) => {
    const orch = await startStack(t);
    const uploads = path.join(orch.config.dataDir, "uploads");
    fs.mkdirSync(uploads, { recursive: true });
    const beside = fifoWitness(t, path.join(uploads, "other-upload.mp3"));
    const absolute = fifoWitness(t, path.join(tmp, "concat-secret.mp3"));
    for (const target of ["other-upload.mp3", path.join(tmp, "concat-secret.mp3")]) {
      const id = await upload(orch.url, `ffconcat version 1.0\nfile '${target}'\n`);
      assert.match((await failedEpisode(orch.url, id)).error, /not an audio file: it is an ffconcat script/);
      await assertNoTranscript(orch.url, id);
    }
    assert.equal(beside.opened(), false);
    assert.equal(absolute.opened(), false);
  });

  test("an HLS playlist served by URL (as audio/mpeg) naming a local file", async (t) => {
    const orch = await startStack(t);
    const fifo = fifoWitness(t, path.join(tmp, "url-secret.mp3"));
    const server = await programmableServer(t, (_req, res) => {
      res.writeHead(200, { "content-type": "audio/mpeg" }).end(hlsPlaylist(path.join(tmp, "url-secret.mp3")));
    });
    const res = await fetch(`${orch.url}/v1/episodes`, {
      method: "POST",
      body: JSON.stringify({ audioUrl: `${server.url}/episode.mp3` }),
      headers: { "content-type": "application/json", ...authHeaders(orch.url) },
    });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    const failed = await failedEpisode(orch.url, id);
    assert.match(failed.error, /HLS\/M3U playlist/);
    assert.equal(server.requests.length, 1, "only the playlist itself was fetched");
    assert.equal(fifo.opened(), false);
    await assertNoTranscript(orch.url, id);
  });
});

describe("playlistKind", () => {
  for (const [head, kind] of [
    ["#EXTM3U\n#EXTINF:7,\n/etc/x.mp3\n", "an HLS/M3U playlist"],
    ["\xEF\xBB\xBF\n  #EXTM3U\n", "an HLS/M3U playlist"],
    ["ffconcat version 1.0\nfile 'a.wav'\n", "an ffconcat script"],
    ['<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011">', "a DASH manifest"],
    ["[playlist]\nFile1=/x.mp3\n", "a PLS playlist"],
    ["v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n", "an SDP session description"],
    ["ID3\x04\x00\x00\x00\x00\x00\x00", undefined],
    ["RIFF\x24\x00\x00\x00WAVEfmt ", undefined],
    ["These are show notes.", undefined],
  ] as const) {
    test(`${JSON.stringify(head.slice(0, 24))} → ${kind ?? "not a playlist"}`, () => {
      assert.equal(playlistKind(Buffer.from(head, "latin1")), kind);
    });
  }
});

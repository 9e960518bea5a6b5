/**
 * Recognises text files that name other media instead of holding it (playlists, manifests,
 * concat scripts), from their first bytes. ffmpeg's allowed-demuxer list is what keeps such a file
 * from being followed (ingest/audio-decode.ts); this only lets the refusal say what was submitted.
 */

const KINDS: ReadonlyArray<[RegExp, string]> = [
  [/^#EXTM3U/, "an HLS/M3U playlist"],
  [/^ffconcat\s+version/, "an ffconcat script"],
  [/^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*<MPD[\s>]/, "a DASH manifest"],
  [/^\[playlist\]/i, "a PLS playlist"],
  [/^<\?wpl|^<smil[\s>]/i, "a WPL/SMIL playlist"],
  [/^<asx[\s>]/i, "an ASX playlist"],
  [/^v=0\r?\n/, "an SDP session description"],
];

/** What kind of playlist or manifest `head` (a file's first bytes) starts, or undefined for anything else. */
export function playlistKind(head: Uint8Array): string | undefined {
  // a UTF-8 byte order mark and leading blank lines do not stop ffmpeg from probing a playlist
  const text = Buffer.from(head)
    .toString("latin1")
    .replace(/^\xEF\xBB\xBF/, "")
    .replace(/^\s+/, "");
  return KINDS.find(([re]) => re.test(text))?.[1];
}

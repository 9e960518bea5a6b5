/**
 * Types for the parts of `webvtt-parser` 2.2.0 (a W3C-conformant WebVTT parser, shipped without
 * types; CommonJS, so import the default) that tests use to validate the WebVTT we render.
 */
declare module "webvtt-parser" {
  export interface WebVTTParseError {
    message: string;
    line: number;
    col?: number;
  }
  export interface WebVTTCueNode {
    type: "text" | "object" | "timestamp";
    name?: string;
    value?: string;
    classes?: string[];
    children: WebVTTCueNode[];
  }
  export interface WebVTTCue {
    id: string;
    /** Seconds. */
    startTime: number;
    endTime: number;
    /** Raw cue text, lines joined with "\n". */
    text: string;
    tree: { children: WebVTTCueNode[] };
  }
  export interface WebVTTParseResult {
    cues: WebVTTCue[];
    errors: WebVTTParseError[];
    time: number;
  }
  export interface WebVTTParser {
    /** `mode` "metadata" skips cue-text checks; leave it out to validate everything. */
    parse(input: string, mode?: "metadata" | "chapters"): WebVTTParseResult;
  }
  /** The package is CommonJS and assigns its exports at run time: only a default import works. */
  /** `entities`: character references to decode (the package ships the HTML table as html-entities.json). */
  const webvtt: { WebVTTParser: new (entities?: Record<string, string>) => WebVTTParser };
  export default webvtt;
}

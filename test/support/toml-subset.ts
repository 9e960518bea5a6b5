/**
 * A reader for the small TOML subset the fly.*.toml files use: comments, `key = value` with
 * basic strings, integers, floats, booleans and one-line arrays of those, `[table]` and
 * `[[array.of.tables]]` headers with dotted names. Anything else is a parse error with its line,
 * so a construct this reader does not know cannot be silently misread.
 */
export type TomlValue = string | number | boolean | TomlValue[] | TomlTable;
export interface TomlTable {
  [key: string]: TomlValue;
}

export class TomlSubsetError extends Error {
  override readonly name = "TomlSubsetError";
}

const KEY = /^[A-Za-z0-9_-]+$/;

function parseScalar(raw: string, line: number): TomlValue {
  const s = raw.trim();
  if (s.startsWith('"')) {
    if (!/^"(?:[^"\\]|\\["\\nt])*"$/.test(s)) throw new TomlSubsetError(`line ${line}: bad string ${s}`);
    return s.slice(1, -1).replace(/\\(["\\nt])/g, (_, c: string) => ({ n: "\n", t: "\t" })[c] ?? c);
  }
  if (s === "true" || s === "false") return s === "true";
  if (/^[+-]?\d+(_\d+)*$/.test(s)) return Number(s.replace(/_/g, ""));
  if (/^[+-]?\d+\.\d+$/.test(s)) return Number(s);
  if (s.startsWith("[") && s.endsWith("]")) {
    const inner = s.slice(1, -1).trim();
    if (inner === "") return [];
    return splitTopLevel(inner, line).map((part) => parseScalar(part, line));
  }
  throw new TomlSubsetError(`line ${line}: unsupported value ${s}`);
}

/** Splits "a", "b, c" on commas outside strings; a trailing comma is allowed. */
function splitTopLevel(s: string, line: number): string[] {
  const parts: string[] = [];
  let cur = "";
  let inString = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '"' && s[i - 1] !== "\\") inString = !inString;
    if (c === "," && !inString) {
      parts.push(cur);
      cur = "";
    } else cur += c;
  }
  if (inString) throw new TomlSubsetError(`line ${line}: unterminated string`);
  if (cur.trim() !== "") parts.push(cur);
  return parts;
}

/** Strips a `#` comment that is not inside a string. */
function stripComment(line: string): string {
  let inString = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === '"' && line[i - 1] !== "\\") inString = !inString;
    if (line[i] === "#" && !inString) return line.slice(0, i);
  }
  return line;
}

function descend(root: TomlTable, path: string[], line: number): TomlTable {
  let t = root;
  for (const key of path) {
    const next = t[key] ?? (t[key] = {});
    if (Array.isArray(next)) {
      const last = next[next.length - 1];
      if (typeof last !== "object" || last === null || Array.isArray(last)) throw new TomlSubsetError(`line ${line}: ${key} is not a table`);
      t = last;
    } else if (typeof next === "object") t = next;
    else throw new TomlSubsetError(`line ${line}: ${key} is not a table`);
  }
  return t;
}

/** Parses `text`; throws TomlSubsetError naming the line of anything outside the subset. */
export function parseTomlSubset(text: string): TomlTable {
  const root: TomlTable = {};
  let current = root;
  text.split("\n").forEach((rawLine, i) => {
    const line = i + 1;
    const s = stripComment(rawLine).trim();
    if (s === "") return;
    const header = /^(\[\[?)\s*([A-Za-z0-9_.-]+)\s*(\]\]?)$/.exec(s);
    if (header) {
      const [, open, name = "", close] = header;
      if (open!.length !== close!.length) throw new TomlSubsetError(`line ${line}: bad header ${s}`);
      const path = name.split(".");
      if (!path.every((p) => KEY.test(p))) throw new TomlSubsetError(`line ${line}: bad table name ${name}`);
      if (open === "[[") {
        const parent = descend(root, path.slice(0, -1), line);
        const key = path[path.length - 1]!;
        const arr = parent[key] ?? (parent[key] = []);
        if (!Array.isArray(arr)) throw new TomlSubsetError(`line ${line}: ${name} is not an array of tables`);
        const table: TomlTable = {};
        arr.push(table);
        current = table;
      } else {
        current = descend(root, path, line);
      }
      return;
    }
    const eq = s.indexOf("=");
    if (eq < 0) throw new TomlSubsetError(`line ${line}: expected key = value`);
    const key = s.slice(0, eq).trim();
    if (!KEY.test(key)) throw new TomlSubsetError(`line ${line}: unsupported key ${key}`);
    if (key in current) throw new TomlSubsetError(`line ${line}: duplicate key ${key}`);
    current[key] = parseScalar(s.slice(eq + 1), line);
  });
  return root;
}

/**
 * The API reference page (`GET /docs`): plain HTML rendered on the server from the same OpenAPI
 * document `/openapi.json` serves, with inline styles and no scripts, so it works offline and
 * loads nothing from elsewhere.
 */
import type { OpenAPIHono } from "@hono/zod-openapi";

/** The document as `@hono/zod-openapi` generates it (OpenAPI 3.1). */
export type ApiDocument = ReturnType<OpenAPIHono["getOpenAPI31Document"]>;
type OperationObject = NonNullable<NonNullable<ApiDocument["paths"]>[string]["get"]>;
type ParameterObject = { name: string; in: string; required?: boolean; schema?: unknown };
type ReferenceObject = { $ref: string };
type RequestBodyObject = { content: Record<string, { schema?: unknown }> };
type ResponseObject = { description: string };

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch"] as const;

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** Escapes, then shows `code` spans and **bold** as the README does. */
function inline(text: string): string {
  return esc(text)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>");
}

const isRef = (x: unknown): x is ReferenceObject => typeof x === "object" && x !== null && "$ref" in x;

function schemaText(schema: unknown): string {
  return esc(JSON.stringify(schema, null, 2));
}

function operation(method: string, path: string, op: OperationObject): string {
  const access = accessOf(op);
  const params = (op.parameters ?? []).filter((p) => !isRef(p)) as ParameterObject[];
  const body = op.requestBody && !isRef(op.requestBody) ? (op.requestBody as RequestBodyObject) : undefined;
  const responses = Object.entries(op.responses ?? {}) as Array<[string, ResponseObject | ReferenceObject]>;
  const id = `${method}-${path}`.replace(/[^a-zA-Z0-9]+/g, "-");
  return `<section class="op" id="${esc(id)}">
<h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code> <span class="access">${esc(access)}</span></h3>
<p>${inline(op.summary ?? "")}</p>${op.description ? `\n<p>${inline(op.description)}</p>` : ""}
${params.length ? `<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th></tr>${params.map((p) => `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required ? "yes" : "no"}</td><td><code>${esc(JSON.stringify(p.schema ?? {}))}</code></td></tr>`).join("")}</table>` : ""}
${
  body
    ? Object.entries(body.content)
        .map(([type, media]) => `<details><summary>request body <code>${esc(type)}</code></summary><pre>${schemaText(media.schema)}</pre></details>`)
        .join("\n")
    : ""
}
<ul class="responses">${responses.map(([status, r]) => `<li><code>${esc(status)}</code> ${isRef(r) ? esc(r.$ref) : inline(r.description)}</li>`).join("")}</ul>
</section>`;
}

/** The whole page, grouped by tag in the document's order. */
export function renderApiReference(doc: ApiDocument): string {
  const byTag = new Map<string, string[]>();
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = op.tags?.[0] ?? "other";
      byTag.set(tag, [...(byTag.get(tag) ?? []), operation(method, path, op)]);
    }
  }
  const toc = [...byTag.keys()].map((t) => `<a href="#tag-${esc(t)}">${esc(t)}</a>`).join(" · ");
  const sections = [...byTag].map(([tag, ops]) => `<h2 id="tag-${esc(tag)}">${esc(tag)}</h2>\n${ops.join("\n")}`).join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(doc.info.title)} API reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
code,pre{font-family:ui-monospace,monospace;font-size:13px}pre{background:#f4f5f7;padding:.5rem;overflow:auto}
.op{border-top:1px solid #d8dde3;padding:.5rem 0}.op h3{font-size:15px;margin:.25rem 0}
.m{display:inline-block;min-width:4.5rem;font:600 12px ui-monospace,monospace;padding:2px 6px;border-radius:3px;color:#fff;background:#57606a;text-align:center}
.m.get{background:#0b6e4f}.m.post{background:#1f5fa8}.m.put{background:#8a5a00}.m.delete{background:#a4262c}
.access{font-size:12px;color:#57606a;border:1px solid #d8dde3;border-radius:3px;padding:0 4px}
table{border-collapse:collapse}td,th{border:1px solid #d8dde3;padding:2px 6px;text-align:left}
</style></head>
<body>
<h1>${esc(doc.info.title)} <small>${esc(doc.info.version)}</small></h1>
<p>${inline(doc.info.description ?? "")}</p>
<p>Machine-readable: <a href="/openapi.json"><code>/openapi.json</code></a> (OpenAPI ${esc(doc.openapi)}). ${toc}</p>
${sections}
</body></html>
`;
}

/** The access a route declared (its `x-podfleet-access`), "admin" when absent. */
function accessOf(op: unknown): string {
  const access = (op as Record<string, unknown>)["x-podfleet-access"];
  return typeof access === "string" ? access : "admin";
}

/**
 * The dashboard's two static files (assets/dashboard.js, assets/dashboard.css), read once at
 * start and served from memory. Their URLs carry a content hash, so browsers may cache them for
 * good and a new version is fetched as soon as it ships.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ASSET_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "assets");

export interface Asset {
  path: string;
  body: Buffer;
  contentType: string;
}

function load(file: string, contentType: string): Asset {
  const body = fs.readFileSync(path.join(ASSET_DIR, file));
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 12);
  const ext = path.extname(file);
  return { path: `/ui/assets/${path.basename(file, ext)}.${hash}${ext}`, body, contentType };
}

export const ASSETS: readonly Asset[] = [load("dashboard.js", "text/javascript; charset=utf-8"), load("dashboard.css", "text/css; charset=utf-8")];

export const ASSET_PATHS = { js: ASSETS[0]!.path, css: ASSETS[1]!.path };

// Serves the web page's files from memory: loaded once at start, with validators (ETag, Last-Modified → 304) and the page's content security policy.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { IncomingMessage, ServerResponse } from "node:http";
import { PAGE_CSP } from "./prelude.ts";
import { sendError } from "./respond.ts";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

interface Asset {
  body: Buffer;
  type: string;
  /** Weak: the bytes sent differ with the encoding the compression negotiates, the content does not. */
  etag: string;
  lastModified: string;
}

/** Whether the client's copy is current: If-None-Match decides when sent (RFC 9110 13.2.2), else If-Modified-Since. */
function notModified(req: IncomingMessage, asset: Asset): boolean {
  const ifNoneMatch = req.headers["if-none-match"];
  if (ifNoneMatch !== undefined) {
    const strip = (tag: string) => tag.trim().replace(/^W\//, "");
    return ifNoneMatch.trim() === "*" || ifNoneMatch.split(",").some((tag) => strip(tag) === strip(asset.etag));
  }
  const since = Date.parse(req.headers["if-modified-since"] ?? "");
  return !Number.isNaN(since) && Date.parse(asset.lastModified) <= since;
}

export interface StaticFiles {
  serve(name: string, req: IncomingMessage, res: ServerResponse): void;
}

export function loadStaticFiles(dir: string): StaticFiles {
  const assets = new Map<string, Asset>();
  const entries = fs.existsSync(dir) ? fs.readdirSync(dir, { withFileTypes: true }) : [];
  for (const entry of entries) {
    const type = TYPES[path.extname(entry.name)];
    if (!entry.isFile() || !type) continue;
    const file = path.join(dir, entry.name);
    const body = fs.readFileSync(file);
    const lastModified = new Date(Math.floor(fs.statSync(file).mtimeMs / 1000) * 1000).toUTCString();
    assets.set(entry.name, { body, type, etag: `W/"${createHash("sha1").update(body).digest("base64url")}"`, lastModified });
  }
  return {
    serve(name, req, res) {
      const asset = assets.get(name);
      if (!asset) {
        sendError(res, 404, `Not found: ${req.url}`);
        return;
      }
      res.setHeader("Content-Type", asset.type);
      res.setHeader("ETag", asset.etag);
      res.setHeader("Last-Modified", asset.lastModified);
      res.setHeader("Cache-Control", name.endsWith(".html") ? "no-cache" : "public, max-age=300");
      if (asset.type.startsWith("text/html")) res.setHeader("Content-Security-Policy", PAGE_CSP);
      if (notModified(req, asset)) {
        res.statusCode = 304;
        res.end();
        return;
      }
      res.setHeader("Content-Length", asset.body.length);
      res.statusCode = 200;
      res.end(req.method === "HEAD" ? undefined : asset.body);
    },
  };
}

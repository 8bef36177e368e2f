// Serves the web page's files from memory: loaded once at start, with ETag and the page's content security policy.
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
  etag: string;
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
    const body = fs.readFileSync(path.join(dir, entry.name));
    assets.set(entry.name, { body, type, etag: `"${createHash("sha1").update(body).digest("base64url")}"` });
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
      res.setHeader("Cache-Control", name.endsWith(".html") ? "no-cache" : "public, max-age=300");
      if (asset.type.startsWith("text/html")) res.setHeader("Content-Security-Policy", PAGE_CSP);
      if (req.headers["if-none-match"] === asset.etag) {
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

// The path of a request without its query string: the one place routes outside the router read it.
import type { IncomingMessage } from "node:http";

export function requestPath(req: IncomingMessage): string {
  const url = req.url ?? "";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Every route answers the same with or without a trailing slash (`/api/health/` is `/api/health`): the path's
 * trailing slashes are dropped from req.url before anything reads it. Idempotent; `/` stays `/`.
 */
export function dropTrailingSlash(req: IncomingMessage): void {
  const path = requestPath(req);
  if (path.length < 2 || !path.endsWith("/")) return;
  const trimmed = path.replace(/\/+$/, "") || "/";
  req.url = trimmed + (req.url ?? "").slice(path.length);
}

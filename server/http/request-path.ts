// The path of a request without its query string: the one place routes outside the router read it.
import type { IncomingMessage } from "node:http";

export function requestPath(req: IncomingMessage): string {
  const url = req.url ?? "";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/**
 * A request target in absolute form (`GET http://host/api/health HTTP/1.1`), which a server must accept (RFC 9112
 * §3.2.2), becomes the origin form the routes read; its authority replaces Host, as §3.2.2 requires. Other schemes
 * are left as they are (and found nowhere: 404).
 */
export function acceptAbsoluteForm(req: IncomingMessage): void {
  const url = req.url ?? "";
  if (!/^https?:\/\//i.test(url)) return;
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return;
  }
  req.url = `${target.pathname}${target.search}`;
  // a Host header is still required (§3.2: a request without one is 400); when present, the target's authority wins
  if (req.headers.host !== undefined) req.headers.host = target.host;
}

/** Both normalizations of the target, in the order they apply: what every route and check reads. */
export function normalizeTarget(req: IncomingMessage): void {
  acceptAbsoluteForm(req);
  dropTrailingSlash(req);
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

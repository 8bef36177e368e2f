// The path of a request without its query string: the one place routes outside the router read it.
import type { IncomingMessage } from "node:http";

export function requestPath(req: IncomingMessage): string {
  const url = req.url ?? "";
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/** Requests whose target is an http(s) URI that RFC 9110 tells a recipient to reject, and why; the listener answers them 400. */
const invalidTargets = new WeakMap<IncomingMessage, string>();

/** Why an absolute-form http(s) target is refused, or null when it is sound (RFC 9110 §4.2.1, §4.2.4). */
function absoluteTargetProblem(url: string): string | null {
  const authority = /^https?:\/\/([^/?#]*)/i.exec(url)?.[1] ?? "";
  // §4.2.1: "A recipient that processes such a URI reference MUST reject it as invalid" (an empty host); the WHATWG
  // parser would instead skip the slashes and read the path's first segment as the host ("http:///api/x" → /x)
  if (authority === "" || authority.startsWith(":")) return "it has no host";
  // §4.2.4: a recipient "SHOULD parse for userinfo and treat its presence as an error"
  if (authority.includes("@")) return "it has user information (user:password@), which HTTP URIs must not carry";
  try {
    new URL(url);
  } catch {
    return "it is not a valid URI (a port is 0 to 65535)";
  }
  return null;
}

/**
 * A request target in absolute form (`GET http://host/api/health HTTP/1.1`), which a server must accept (RFC 9112
 * §3.2.2), becomes the origin form the routes read; its authority replaces Host, as §3.2.2 requires. One the URI
 * rules refuse is left as it is and marked (invalidTarget). Other schemes are left as they are (and found nowhere: 404).
 */
export function acceptAbsoluteForm(req: IncomingMessage): void {
  const url = req.url ?? "";
  if (!/^https?:\/\//i.test(url)) return;
  const problem = absoluteTargetProblem(url);
  if (problem !== null) {
    invalidTargets.set(req, problem);
    return;
  }
  const target = new URL(url);
  req.url = `${target.pathname}${target.search}`;
  // a Host header is still required (§3.2: a request without one is 400); when present, the target's authority wins
  if (req.headers.host !== undefined) req.headers.host = target.host;
}

/** Why the request's absolute-form target was refused by acceptAbsoluteForm, or null. */
export function invalidTarget(req: IncomingMessage): string | null {
  return invalidTargets.get(req) ?? null;
}

/** Both normalizations of the target, in the order they apply: what every route and check reads. */
export function normalizeTarget(req: IncomingMessage): void {
  // the asterisk form is only for a server-wide OPTIONS (RFC 9112 §3.2.4): with any other method the target is invalid
  if (req.url === "*" && req.method !== "OPTIONS") invalidTargets.set(req, `"*" is a target for OPTIONS only`);
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

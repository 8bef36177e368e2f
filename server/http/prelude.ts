// Runs first on every request: request id, security headers, CORS allow-list, one JSON log line when the response ends (or is cut off).
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { requestPath } from "./request-path.ts";

export const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const API_CSP = "default-src 'none'; frame-ancestors 'none'";

const COMMON_HEADERS: ReadonlyArray<[string, string]> = [
  ["X-Content-Type-Options", "nosniff"],
  ["X-Frame-Options", "DENY"],
  ["Referrer-Policy", "no-referrer"],
  ["Cross-Origin-Opener-Policy", "same-origin"],
  ["Cross-Origin-Resource-Policy", "same-origin"],
  ["Strict-Transport-Security", "max-age=31536000"],
  ["Permissions-Policy", "camera=(), microphone=(), geolocation=()"],
  ["Content-Security-Policy", API_CSP],
  ["Cache-Control", "no-store"],
];

const REQUEST_ID = /^[\w.:@-]{1,128}$/;

/** The client's X-Request-Id when it is a sane token, else undefined (a new one is made). */
export function validRequestId(given: string | string[] | undefined): string | undefined {
  return typeof given === "string" && REQUEST_ID.test(given) ? given : undefined;
}

export interface PreludeOptions {
  logger: Logger;
  corsOrigins: string[];
  isDraining: () => boolean;
  /** The methods a path's route allows, or undefined where no route is: a CORS preflight is answered only for those. */
  allowedMethods?: (path: string) => string | undefined;
}

/** The answer's headers a page on an allowed origin may read (Retry-After tells it when to try again). */
const EXPOSED_HEADERS = "Retry-After, X-Request-Id";

/** Whether an OPTIONS request is a preflight for a route that exists and a method that route allows. */
function preflightAllowed(req: IncomingMessage, allowed: string | undefined): boolean {
  const wanted = req.headers["access-control-request-method"];
  if (req.method !== "OPTIONS" || typeof wanted !== "string" || allowed === undefined) return false;
  return allowed.split(", ").includes(wanted.trim());
}

export type RequestWithId = IncomingMessage & { id: string };

export function createPrelude(options: PreludeOptions) {
  const { logger, corsOrigins } = options;
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const start = performance.now();
    const id = validRequestId(req.headers["x-request-id"]) ?? randomUUID();
    (req as RequestWithId).id = id;
    res.setHeader("X-Request-Id", id);
    for (const [name, value] of COMMON_HEADERS) res.setHeader(name, value);
    if (options.isDraining()) res.setHeader("Connection", "close");
    const origin = req.headers.origin;
    const path = requestPath(req);
    // the answer depends on Origin wherever CORS is configured: a cache must not give one origin's answer to another
    if (corsOrigins.length > 0) res.setHeader("Vary", "Origin");
    if (origin && corsOrigins.includes(origin)) {
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Access-Control-Expose-Headers", EXPOSED_HEADERS);
      const allowed = options.allowedMethods?.(path);
      if (preflightAllowed(req, allowed)) {
        res.setHeader("Access-Control-Allow-Methods", allowed!);
        res.setHeader("Access-Control-Allow-Headers", "Content-Type, X-Request-Id");
        res.setHeader("Access-Control-Max-Age", "600");
        res.statusCode = 204;
        res.end();
        return;
      }
      // any other OPTIONS (no such route, a method it does not allow) goes on to the router: 404 or 405 with Allow
    }
    // "close" comes after "finish", and also when the connection ends before an answer was sent: both get their line
    res.once("close", () => {
      logger.info(
        {
          req_id: id,
          method: req.method,
          path,
          // an answer that never reached the client is logged as 499 (client closed), with what it would have been
          status: res.writableFinished ? res.statusCode : 499,
          ms: Math.round((performance.now() - start) * 10) / 10,
          bytes_in: Number(req.headers["content-length"]) || 0,
          ua: req.headers["user-agent"],
          ...(res.writableFinished ? {} : { aborted: true, intended_status: res.statusCode, headers_sent: res.headersSent }),
        },
        "request",
      );
    });
    next();
  };
}

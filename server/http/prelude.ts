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
    if (origin && corsOrigins.includes(origin)) {
      res.setHeader("Access-Control-Allow-Origin", origin);
      res.setHeader("Vary", "Origin");
      if (req.method === "OPTIONS") {
        res.setHeader("Access-Control-Allow-Methods", "GET, POST");
        res.setHeader("Access-Control-Allow-Headers", "Content-Type, X-Request-Id");
        res.setHeader("Access-Control-Max-Age", "600");
        res.statusCode = 204;
        res.end();
        return;
      }
    }
    const path = requestPath(req);
    // "close" comes after "finish", and also when the connection ends before an answer was sent: both get their line
    res.once("close", () => {
      logger.info(
        {
          req_id: id,
          method: req.method,
          path,
          status: res.statusCode,
          ms: Math.round((performance.now() - start) * 10) / 10,
          bytes_in: Number(req.headers["content-length"]) || 0,
          ua: req.headers["user-agent"],
          ...(res.writableFinished ? {} : { aborted: true }),
        },
        "request",
      );
    });
    next();
  };
}

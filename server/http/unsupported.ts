// Requests Node would otherwise refuse with an empty body or a silent close: an unknown Expect, CONNECT, HTTP/1.1 without Host.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { sendError } from "./respond.ts";

/** For the server's checkExpectation event (an Expect other than 100-continue): 417 in JSON. */
export function createExpectationRefusal(logger: Logger) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const expect = String(req.headers.expect ?? "").slice(0, 100);
    logger.warn({ method: req.method, status: 417, expect }, "request refused: unsupported Expect");
    sendError(res, 417, `Expect "${expect}" is not supported; only "100-continue" is`, undefined, { Connection: "close" });
  };
}

/** For the server's connect event: this is no proxy, so CONNECT gets 405 in JSON and the connection is closed. */
export function createConnectRefusal(logger: Logger) {
  return (_req: IncomingMessage, socket: Socket): void => {
    logger.warn({ method: "CONNECT", status: 405, remote: socket.remoteAddress }, "request refused: CONNECT");
    const json = JSON.stringify({ error: "Method CONNECT not allowed: this server is not a proxy" });
    socket.on("error", () => undefined);
    socket.end(
      `HTTP/1.1 405 ${STATUS_CODES[405]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(json)}\r\n` +
        `Allow: GET, HEAD, POST\r\nConnection: close\r\n\r\n${json}`,
      () => socket.destroy(),
    );
  };
}

/** HTTP/1.1 requires Host; Node's own check answers 400 with an empty body, so the server checks it here instead. */
export function missingHost(req: IncomingMessage): boolean {
  return req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined;
}

/** Host given more than once (Node keeps the first and drops the others silently; RFC 9112 §3.2 requires a 400). */
export function duplicateHost(req: IncomingMessage): boolean {
  let seen = 0;
  for (let index = 0; index < req.rawHeaders.length; index += 2) if (req.rawHeaders[index]!.toLowerCase() === "host") seen++;
  return seen > 1;
}

/** Bodies past this size (or chunked, of unknown size) on a route that does not read them end the connection after the answer. */
const UNREAD_BODY_LIMIT = 64 * 1024;

/**
 * True when the request carries a body that its route will not read and that could be long: Node would read it to its
 * end after the answer to keep the connection, so the answer closes the connection instead.
 */
export function unreadBodyTooLong(req: IncomingMessage, readsBody: boolean): boolean {
  if (readsBody) return false;
  if (req.headers["transfer-encoding"] !== undefined) return true;
  const declared = Number(req.headers["content-length"] ?? 0);
  return !Number.isFinite(declared) || declared > UNREAD_BODY_LIMIT;
}

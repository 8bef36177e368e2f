// Answers what Node's HTTP parser refuses before any route sees it (huge headers, garbage, timeouts) with JSON and a log line.
import { STATUS_CODES, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Logger } from "pino";

export interface ClientErrorOptions {
  logger: Logger;
  maxHeaderBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

interface ParserError extends Error {
  code?: string;
  reason?: string;
}

/** How long a refused connection may take to take its answer before it is cut. */
const LINGER_MS = 5_000;

/** The status and the precise message for one parser or timeout error. */
export function describeClientError(error: ParserError, options: Omit<ClientErrorOptions, "logger">): { status: number; message: string } {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return { status: 431, message: `Request headers too large: the limit is ${options.maxHeaderBytes} bytes for the request line and headers together` };
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return {
        status: 408,
        message: `Request not received in time: headers must arrive within ${options.headersTimeoutMs / 1000} s and the whole request within ${options.requestTimeoutMs / 1000} s`,
      };
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return { status: 413, message: "Chunk extensions too large" };
    case "HPE_INVALID_EOF_STATE":
      return { status: 400, message: "Malformed HTTP request: the connection ended before the request was complete" };
    default: {
      const reason = (error.reason ?? error.message).replace(/[^\x20-\x7e]/g, "").slice(0, 200);
      return { status: 400, message: `Malformed HTTP request: ${reason}${error.code ? ` (${error.code})` : ""}` };
    }
  }
}

/** For the server's clientError event: one JSON answer when nothing was answered on the connection yet, then close. */
export function createClientErrorHandler(options: ClientErrorOptions) {
  const { logger } = options;
  return (error: ParserError, socket: Socket): void => {
    const code = error.code ?? "UNKNOWN";
    if (code === "ECONNRESET" || code === "EPIPE" || !socket.writable) {
      logger.debug({ error_code: code, remote: socket.remoteAddress }, "connection reset by the client");
      socket.destroy();
      return;
    }
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    const { status, message } = describeClientError(error, options);
    if (code === "HPE_INVALID_EOF_STATE" && inFlight && !inFlight.req.complete) {
      // the client ended the connection inside a request's body: that request's own line (499, aborted) tells it, with
      // the answer it was sent; a second line "refused" would count one aborted request twice
      inFlight.statusCode = status;
      logger.debug({ error_code: code, status, remote: socket.remoteAddress, error: message }, "request cut off by the client inside its body");
    } else {
      logger.warn({ error_code: code, status, remote: socket.remoteAddress, error: message }, "request refused by the HTTP parser");
    }
    if (inFlight && inFlight.req.complete && !inFlight.writableFinished) {
      // The request being answered arrived whole; the error is in one pipelined after it. That answer is still due:
      // it goes out, then the connection ends (the parser can read no further on it).
      if (!inFlight.headersSent) inFlight.setHeader("Connection", "close");
      else inFlight.once("finish", () => socket.end(() => socket.destroy()));
      return;
    }
    if (inFlight?.headersSent) {
      // an answer is already under way on this connection: anything written now would corrupt it
      socket.destroy();
      return;
    }
    const json = JSON.stringify({ error: message });
    const head = [
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}`,
      "Content-Type: application/json; charset=utf-8",
      `Content-Length: ${Buffer.byteLength(json)}`,
      "Cache-Control: no-store",
      "X-Content-Type-Options: nosniff",
      "Connection: close",
    ].join("\r\n");
    const linger = setTimeout(() => socket.destroy(), LINGER_MS).unref();
    socket.end(`${head}\r\n\r\n${json}`, () => {
      clearTimeout(linger);
      socket.destroy();
    });
  };
}

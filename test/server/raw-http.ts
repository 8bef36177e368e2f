// Raw HTTP/1.1 over node:net for the adversarial tests: sends exact bytes (lies included), reads whatever comes back.
import net from "node:net";

export interface RawAnswer {
  /** null when the server closed the connection without answering. */
  status: number | null;
  headers: Record<string, string>;
  body: Buffer;
  /** The socket error seen, if any (a reset after the answer is normal for a refused body). */
  socketError?: string;
}

export interface ExchangeOptions {
  /**
   * "end" half-closes the connection after sending (FIN); "open" leaves it open until the answer comes; "reset" aborts
   * the connection (RST) right after sending, as a client that goes away does.
   */
  after: "end" | "open" | "reset";
  /** The request is a HEAD: the answer's Content-Length describes a body that is not sent. */
  head?: boolean;
  /** A hung server fails the test instead of hanging it. */
  guardMs?: number;
}

const HEADER_END = Buffer.from("\r\n\r\n");

function parseHead(head: string): { status: number; headers: Record<string, string> } {
  const [statusLine = "", ...lines] = head.split("\r\n");
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!match) throw new Error(`not an HTTP status line: ${JSON.stringify(statusLine.slice(0, 100))}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status: Number(match[1]), headers };
}

/** Sends the parts in order and resolves with the first answer, or with status null when the server closes without one. */
export function exchange(port: number, parts: Array<string | Buffer>, options: ExchangeOptions): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let received = Buffer.alloc(0);
    let socketError: string | undefined;
    let done = false;
    const guard = setTimeout(() => {
      finish(new Error(`no answer and no close within ${options.guardMs ?? 15_000} ms: the server hangs`));
    }, options.guardMs ?? 15_000);
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(guard);
      socket.destroy();
      if (error) return reject(error);
      const end = received.indexOf(HEADER_END);
      if (end === -1) {
        if (received.length > 0) return reject(new Error(`partial answer: ${JSON.stringify(received.toString("latin1").slice(0, 200))}`));
        return resolve({ status: null, headers: {}, body: Buffer.alloc(0), socketError });
      }
      try {
        const { status, headers } = parseHead(received.subarray(0, end).toString("latin1"));
        resolve({ status, headers, body: received.subarray(end + 4), socketError });
      } catch (parseError) {
        reject(parseError as Error);
      }
    };
    const complete = (): boolean => {
      const end = received.indexOf(HEADER_END);
      if (end === -1) return false;
      const { headers } = parseHead(received.subarray(0, end).toString("latin1"));
      if (options.head) return true;
      const length = headers["content-length"];
      return length !== undefined && received.length - end - 4 >= Number(length);
    };
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      try {
        if (complete()) finish();
      } catch (error) {
        finish(error as Error);
      }
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      socketError = error.code ?? error.message;
    });
    socket.on("close", () => finish());
    socket.on("connect", () => {
      for (const part of parts) socket.write(part);
      if (options.after === "end") socket.end();
      if (options.after === "reset") socket.resetAndDestroy();
    });
  });
}

export function json(answer: RawAnswer): any {
  return JSON.parse(answer.body.toString("utf8"));
}

export interface FormPart {
  name: string;
  /** Present for a file part. */
  filename?: string;
  content: string | Buffer;
}

/** A multipart/form-data body exactly as a browser frames it (file names as raw UTF-8, like browsers and curl). */
export function multipartBody(boundary: string, parts: FormPart[]): Buffer {
  const pieces: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename === undefined ? "" : `; filename="${part.filename}"`}`;
    const type = part.filename === undefined ? "" : "Content-Type: text/x-python\r\n";
    pieces.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type}\r\n`, "utf8"));
    pieces.push(Buffer.from(part.content));
    pieces.push(Buffer.from("\r\n"));
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(pieces);
}

/** Request line and headers of a POST; `length` null sends the body chunked. */
export function postHead(path: string, contentType: string, length: number | null): string {
  const framing = length === null ? "Transfer-Encoding: chunked" : `Content-Length: ${length}`;
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${contentType}\r\n${framing}\r\n\r\n`;
}

/** The body framed as HTTP chunks of at most `size` bytes, with the terminating zero chunk. */
export function chunked(body: Buffer, size: number): Buffer {
  const frames: Buffer[] = [];
  for (let at = 0; at < body.length; at += size) {
    const piece = body.subarray(at, at + size);
    frames.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n"));
  }
  frames.push(Buffer.from("0\r\n\r\n"));
  return Buffer.concat(frames);
}

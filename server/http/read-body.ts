// Reads a small request body into memory, bounded: a body over the limit is refused as soon as that is known, unread.
import type { IncomingMessage } from "node:http";

export class BodyError extends Error {
  override name = "BodyError";
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * Resolves with the whole body, or rejects with BodyError: 413 when the declared or received size passes maxBytes
 * (reading stops there), 400 when the connection closes before the body is complete. Settles exactly once.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new BodyError(413, `Request body too large: the limit is ${maxBytes} bytes`);
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > maxBytes) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (error: BodyError | null) => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("close", onClose);
      if (error) {
        req.pause();
        reject(error);
      } else {
        resolve(Buffer.concat(chunks));
      }
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) done(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => done(null);
    const onClose = () => done(new BodyError(400, "Request aborted: the connection closed before the body was complete"));
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("close", onClose);
    req.on("error", () => undefined);
  });
}

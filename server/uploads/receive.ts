// Receives one uploaded Python file from a multipart request with busboy, streamed and bounded; rejects with a precise reason.
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import busboy from "busboy";
import { decodePythonSource, SourceEncodingError } from "./source-encoding.ts";

export interface ReceivedUpload {
  /** The client's file name: metadata only, never used as a path. */
  filename: string;
  /** The file as uploaded: what is stored and what the tools read (a PEP 263 declaration stays true). */
  bytes: Buffer;
  /** Its text, decoded as Python decodes it. */
  code: string;
  sha256: string;
}

export class UploadError extends Error {
  override name = "UploadError";
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const FIELD = "file";
/** Room for the multipart framing around the file: a body declared larger than the limit plus this is refused unread. */
export const MULTIPART_OVERHEAD = 64 * 1024;
/** The longest file name kept, in characters; a longer one is shortened in the middle, keeping its extension. */
export const MAX_NAME_LENGTH = 255;

function megabytes(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return Number.isInteger(mb) ? `${mb} MB` : `${bytes} bytes`;
}

export function tooLargeMessage(maxBytes: number): string {
  return `File too large: the limit is ${megabytes(maxBytes)}`;
}

/**
 * The last path segment of what a browser sent (some send C:\fakepath\x.py), without control characters, at most
 * MAX_NAME_LENGTH characters: a longer name keeps its beginning and its extension (`.py` stays `.py`).
 */
export function clientFileName(raw: string): string {
  // control characters, the bidirectional marks and overrides that make "exe.py" display as something else, and the
  // invisible zero-width characters (and BOM) that make two names look alike, are dropped
  const base = (raw.split(/[\\/]/).pop() ?? "").replace(/[\p{Cc}\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/gu, "").trim();
  const chars = Array.from(base);
  if (chars.length <= MAX_NAME_LENGTH) return base;
  const dot = base.lastIndexOf(".");
  const extension = dot > 0 ? Array.from(base.slice(dot)) : [];
  const kept = extension.length < 16 ? extension : [];
  return chars.slice(0, MAX_NAME_LENGTH - kept.length).join("") + kept.join("");
}

function validate(filename: string | null, bytes: Buffer): { filename: string; code: string } {
  if (filename === null) throw new UploadError(400, "No file provided");
  if (filename === "") throw new UploadError(400, "No file selected");
  if (!filename.toLowerCase().endsWith(".py")) throw new UploadError(400, "Only .py files allowed");
  // An empty file (an __init__.py) is valid Python: it is analysed like any other.
  let code: string;
  try {
    code = decodePythonSource(bytes);
  } catch (error) {
    if (error instanceof SourceEncodingError) throw new UploadError(400, error.message);
    throw error;
  }
  if (code.includes("\0")) throw new UploadError(400, "File is not text: it contains NUL bytes");
  return { filename, code };
}

function malformed(error: Error): UploadError {
  if (/unexpected end of form/i.test(error.message)) {
    return new UploadError(400, "Malformed multipart request: the body ended before the form was complete");
  }
  return new UploadError(400, `Malformed multipart request: ${error.message}`);
}

/**
 * Reads the request body; resolves with the file held in memory (at most maxBytes), or rejects with UploadError.
 * Settles exactly once, as soon as the outcome is known: on a refusal it stops reading (the caller decides whether
 * to discard the rest or close the connection). Every stream's errors are handled, so no body, however malformed or
 * cut off, can throw out of here. Nothing is written to disk, so a rejected upload leaves nothing behind.
 */
export function receiveUpload(req: IncomingMessage, maxBytes: number): Promise<ReceivedUpload> {
  return new Promise((resolve, reject) => {
    const type = req.headers["content-type"] ?? "";
    if (!/^multipart\/form-data\b/i.test(type)) {
      reject(new UploadError(400, `Expected a multipart/form-data request with the file in field "${FIELD}"`));
      return;
    }
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > maxBytes + MULTIPART_OVERHEAD) {
      reject(new UploadError(413, tooLargeMessage(maxBytes)));
      return;
    }
    let parser: busboy.Busboy;
    try {
      parser = busboy({
        headers: req.headers,
        // browsers and curl send file names as raw UTF-8; busboy's default reads them as latin1
        defParamCharset: "utf8",
        // busboy signals "limit" when the size reaches the limit: one byte more tells "over" from "exactly at"
        limits: { files: 1, fileSize: maxBytes + 1, fields: 20, parts: 22, fieldSize: 64 * 1024 },
      });
    } catch (error) {
      reject(new UploadError(400, `Malformed multipart request: ${(error as Error).message}`));
      return;
    }
    let settled = false;
    let filename: string | null = null;
    const chunks: Buffer[] = [];
    const hash = createHash("sha256");
    const ignore = () => undefined;

    const stopReading = () => {
      req.unpipe(parser);
      req.off("data", countBody);
      req.off("close", onRequestClose);
      // Not synchronously: this runs inside busboy's own callbacks, which go on using their state after ours return.
      // Later errors of the abandoned parser (and of its file stream) have listeners and are ignored.
      process.nextTick(() => parser.destroy());
    };
    const fail = (error: UploadError) => {
      if (settled) return;
      settled = true;
      stopReading();
      reject(error);
    };
    const succeed = () => {
      if (settled) return;
      settled = true;
      req.off("data", countBody);
      req.off("close", onRequestClose);
      try {
        const bytes = Buffer.concat(chunks);
        const { filename: name, code } = validate(filename, bytes);
        resolve({ filename: name, bytes, code, sha256: hash.digest("hex") });
      } catch (error) {
        reject(error);
      }
    };
    const onRequestClose = () => {
      if (!req.complete) fail(new UploadError(400, "Upload aborted: the connection closed before the body was complete"));
    };

    parser.on("file", (field, stream, info) => {
      // busboy destroys an open file stream with an error when the form ends early: always listened to
      stream.on("error", ignore);
      if (field !== FIELD) {
        stream.resume();
        fail(new UploadError(400, `Unexpected file field "${field}": send the file in field "${FIELD}"`));
        return;
      }
      filename = clientFileName(info.filename ?? "");
      stream.on("data", (chunk: Buffer) => {
        if (settled) return;
        chunks.push(chunk);
        hash.update(chunk);
      });
      stream.on("limit", () => fail(new UploadError(413, tooLargeMessage(maxBytes))));
    });
    parser.on("filesLimit", () => fail(new UploadError(400, `Send exactly one file, in field "${FIELD}"`)));
    parser.on("partsLimit", () => fail(new UploadError(400, "Too many parts in the multipart request")));
    parser.on("fieldsLimit", () => fail(new UploadError(400, "Too many fields in the multipart request")));
    parser.on("error", (error: Error) => fail(malformed(error)));
    parser.on("finish", succeed);
    parser.on("close", () => fail(new UploadError(400, "Malformed multipart request: the form ended unexpectedly")));
    // Fields, preamble and parts past the limits are skipped by busboy but still read: the whole body is bounded too,
    // so a body of unknown length (chunked) is refused once it passes what any valid upload can need.
    let received = 0;
    const countBody = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes + MULTIPART_OVERHEAD) fail(new UploadError(413, tooLargeMessage(maxBytes)));
    };
    req.on("data", countBody);
    req.on("close", onRequestClose);
    req.on("error", ignore);
    req.pipe(parser);
  });
}

// Receives one uploaded Python file from a multipart request with busboy, streamed and bounded; rejects with a precise reason.
import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import busboy from "busboy";

export interface ReceivedUpload {
  /** The client's file name: metadata only, never used as a path. */
  filename: string;
  bytes: Buffer;
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
const utf8 = new TextDecoder("utf-8", { fatal: true });

function megabytes(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return Number.isInteger(mb) ? `${mb} MB` : `${bytes} bytes`;
}

/** The last path segment of what a browser sent (some send C:\fakepath\x.py), without control characters. */
export function clientFileName(raw: string): string {
  const base = raw.split(/[\\/]/).pop() ?? "";
  return base.replace(/[\u0000-\u001f\u007f]/g, "").trim().slice(0, 255);
}

function validate(filename: string | null, bytes: Buffer): { filename: string; code: string } {
  if (filename === null) throw new UploadError(400, "No file provided");
  if (filename === "") throw new UploadError(400, "No file selected");
  if (!filename.toLowerCase().endsWith(".py")) throw new UploadError(400, "Only .py files allowed");
  if (bytes.length === 0) throw new UploadError(400, "File is empty");
  let code: string;
  try {
    code = utf8.decode(bytes);
  } catch {
    throw new UploadError(400, "File is not UTF-8 text");
  }
  if (code.includes("\0")) throw new UploadError(400, "File is not text: it contains NUL bytes");
  return { filename, code };
}

/**
 * Reads the request body; resolves with the file held in memory (at most maxBytes), or rejects with UploadError.
 * Nothing is written to disk here, so a rejected upload leaves nothing behind.
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
      reject(new UploadError(413, `File too large: the limit is ${megabytes(maxBytes)}`));
      return;
    }
    let parser: busboy.Busboy;
    try {
      parser = busboy({ headers: req.headers, limits: { files: 1, fileSize: maxBytes, fields: 20, parts: 22, fieldSize: 64 * 1024 } });
    } catch (error) {
      reject(new UploadError(400, `Malformed multipart request: ${(error as Error).message}`));
      return;
    }
    let failure: UploadError | null = null;
    let filename: string | null = null;
    const chunks: Buffer[] = [];
    const hash = createHash("sha256");
    const fail = (error: UploadError) => {
      failure ??= error;
    };

    parser.on("file", (field, stream, info) => {
      if (field !== FIELD) {
        fail(new UploadError(400, `Unexpected file field "${field}": send the file in field "${FIELD}"`));
        stream.resume();
        return;
      }
      filename = clientFileName(info.filename ?? "");
      stream.on("data", (chunk: Buffer) => {
        if (failure) return;
        chunks.push(chunk);
        hash.update(chunk);
      });
      stream.on("limit", () => fail(new UploadError(413, `File too large: the limit is ${megabytes(maxBytes)}`)));
    });
    parser.on("filesLimit", () => fail(new UploadError(400, `Send exactly one file, in field "${FIELD}"`)));
    parser.on("partsLimit", () => fail(new UploadError(400, "Too many parts in the multipart request")));
    parser.on("fieldsLimit", () => fail(new UploadError(400, "Too many fields in the multipart request")));
    parser.on("error", (error: Error) => {
      req.unpipe(parser);
      req.resume();
      reject(failure ?? new UploadError(400, `Malformed multipart request: ${error.message}`));
    });
    parser.on("close", () => {
      if (failure) {
        reject(failure);
        return;
      }
      try {
        const bytes = Buffer.concat(chunks);
        const { filename: name, code } = validate(filename, bytes);
        resolve({ filename: name, bytes, code, sha256: hash.digest("hex") });
      } catch (error) {
        reject(error);
      }
    });
    req.on("aborted", () => reject(new UploadError(400, "Upload aborted by the client")));
    req.pipe(parser);
  });
}

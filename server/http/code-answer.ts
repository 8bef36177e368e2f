// Sends an analysis answer with the file's code: the code's JSON text is made and written a slice at a time, as the client reads it, never whole.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Writable } from "node:stream";
import { setImmediate as nextTurn } from "node:timers/promises";
import zlib from "node:zlib";

/** Characters of code escaped and written at once; below this an answer is sent in one piece. */
const SLICE_CHARS = 64 * 1024;
/** Slices handled between two turns of the event loop, so health and other requests are answered meanwhile. */
const SLICES_PER_TURN = 8;

function* slices(code: string): Generator<string> {
  for (let start = 0; start < code.length; ) {
    let end = Math.min(start + SLICE_CHARS, code.length);
    const last = code.charCodeAt(end - 1);
    if (end < code.length && last >= 0xd800 && last <= 0xdbff) end--; // a surrogate pair stays whole
    yield code.slice(start, end);
    start = end;
  }
}

/** A slice as it appears inside a JSON string (the quotes JSON.stringify puts around it removed). */
const escaped = (slice: string): string => JSON.stringify(slice).slice(1, -1);

/** How long an answer may wait for a client that does not read, and the average rate a streamed answer must be taken at. */
export interface SendLimits {
  /** No progress for this long (the send buffer full) closes the connection. */
  stallMs: number;
  /** A streamed answer of N bytes must be taken within stallMs + N / minBytesPerSecond: a client reading just often enough never to stall cannot hold it for hours. */
  minBytesPerSecond: number;
}

/**
 * Resolves true once the chunk is taken; when the buffer is full, waits for it to drain, and cuts the connection
 * (false) if the client has not read for stallMs, or when the answer's deadline comes first: a client that never
 * reads, or reads a trickle, holds nothing for long.
 */
function write(res: ServerResponse, sink: Writable, chunk: string, stallMs: number, deadline: number): Promise<boolean> {
  if (res.destroyed || sink.destroyed) return Promise.resolve(false);
  if (Date.now() >= deadline) {
    res.destroy();
    return Promise.resolve(false);
  }
  if (sink.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (taken: boolean) => {
      clearTimeout(timer);
      sink.off("drain", onDrain);
      res.off("close", onClose);
      resolve(taken);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => {
      res.destroy();
      done(false);
    }, Math.max(0, Math.min(stallMs, deadline - Date.now())));
    sink.on("drain", onDrain);
    res.on("close", onClose);
  });
}

/** Whether the client takes a gzip body (Accept-Encoding names gzip or *, without q=0). */
export function acceptsGzip(req: IncomingMessage): boolean {
  const header = req.headers["accept-encoding"];
  if (typeof header !== "string") return false;
  return header.split(",").some((entry) => {
    const [coding = "", ...params] = entry.trim().toLowerCase().split(";");
    const q = params.map((param) => param.trim()).find((param) => param.startsWith("q="));
    return (coding.trim() === "gzip" || coding.trim() === "*") && !(q && Number(q.slice(2)) === 0);
  });
}

/** The byte length of the JSON text the slices make, counted a slice at a time (the event loop turning between). */
async function jsonLength(prefix: string, code: string, suffix: string): Promise<number> {
  let length = Buffer.byteLength(prefix) + Buffer.byteLength(suffix);
  let count = 0;
  for (const slice of slices(code)) {
    length += Buffer.byteLength(escaped(slice));
    if (++count % SLICES_PER_TURN === 0) await nextTurn();
  }
  return length;
}

/**
 * The answer's JSON with `original_code` added last. Memory stays a few slices, whatever the code holds; the event
 * loop turns between slices. A client that takes gzip gets it compressed as it is written (a control character takes
 * six bytes in JSON: a 5 MiB file of them is 31.5 MB of JSON, and a few hundred KB gzipped); any other gets
 * Content-Length, counted slice by slice first, then the slices are escaped again as they are sent.
 */
export async function sendAnswerWithCode(req: IncomingMessage, res: ServerResponse, status: number, answer: object, code: string, limits: SendLimits): Promise<void> {
  res.statusCode = status;
  res.setHeader("Content-Type", "application/json; charset=utf-8");
  if (code.length <= SLICE_CHARS) {
    const json = JSON.stringify({ ...answer, original_code: code });
    res.setHeader("Content-Length", Buffer.byteLength(json));
    res.end(json);
    return;
  }
  const head = JSON.stringify(answer);
  const prefix = `${head.slice(0, -1)}${head.length > 2 ? "," : ""}"original_code":"`;
  const suffix = '"}';
  res.appendHeader("Vary", "Accept-Encoding");
  let sink: Writable = res;
  // what the deadline is counted on: the JSON's length, or for gzip the code's (the compressed length is not known, and smaller)
  let bytes = prefix.length + code.length;
  if (acceptsGzip(req)) {
    const gzip = zlib.createGzip({ level: 1 });
    res.setHeader("Content-Encoding", "gzip");
    gzip.on("error", () => res.destroy());
    res.once("close", () => gzip.destroy());
    gzip.pipe(res);
    sink = gzip;
  } else {
    const length = await jsonLength(prefix, code, suffix);
    if (res.destroyed) return;
    res.setHeader("Content-Length", length);
    bytes = length;
  }
  const deadline = Date.now() + limits.stallMs + (bytes / limits.minBytesPerSecond) * 1000;
  if (!(await write(res, sink, prefix, limits.stallMs, deadline))) return;
  let count = 0;
  for (const slice of slices(code)) {
    if (!(await write(res, sink, escaped(slice), limits.stallMs, deadline))) return;
    if (++count % SLICES_PER_TURN === 0) await nextTurn();
  }
  sink.end(suffix);
  // what is still buffered must be taken by the deadline too (or within stallMs, if that comes later)
  if (res.writableFinished) return;
  const timer = setTimeout(() => res.destroy(), Math.max(limits.stallMs, deadline - Date.now()));
  const settle = () => clearTimeout(timer);
  res.once("finish", settle);
  res.once("close", settle);
}

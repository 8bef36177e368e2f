// Sends an analysis answer with the file's code: the code's JSON text is made and written a slice at a time, as the client reads it, never whole.
import type { ServerResponse } from "node:http";
import { setImmediate as nextTurn } from "node:timers/promises";

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

/**
 * Resolves true once the chunk is taken; when the socket's buffer is full, waits for it to drain, and cuts the
 * connection (false) if the client has not read for stallMs: a client that never reads holds nothing for long.
 */
function write(res: ServerResponse, chunk: string, stallMs: number): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  if (res.write(chunk)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (taken: boolean) => {
      clearTimeout(timer);
      res.off("drain", onDrain);
      res.off("close", onClose);
      resolve(taken);
    };
    const onDrain = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => {
      res.destroy();
      done(false);
    }, stallMs);
    res.on("drain", onDrain);
    res.on("close", onClose);
  });
}

/**
 * The answer's JSON with `original_code` added last, written with Content-Length: the length is counted slice by
 * slice first, then the slices are escaped again as they are sent. Memory stays a few slices, whatever the code
 * holds (a control character takes six bytes in JSON); the event loop turns between slices.
 */
export async function sendAnswerWithCode(res: ServerResponse, status: number, answer: object, code: string, stallMs: number): Promise<void> {
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
  let length = Buffer.byteLength(prefix) + suffix.length;
  let count = 0;
  for (const slice of slices(code)) {
    length += Buffer.byteLength(escaped(slice));
    if (++count % SLICES_PER_TURN === 0) await nextTurn();
  }
  if (res.destroyed) return;
  res.setHeader("Content-Length", length);
  if (!(await write(res, prefix, stallMs))) return;
  count = 0;
  for (const slice of slices(code)) {
    if (!(await write(res, escaped(slice), stallMs))) return;
    if (++count % SLICES_PER_TURN === 0) await nextTurn();
  }
  res.end(suffix);
}

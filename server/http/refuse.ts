// Refusing a request whose body may still be arriving: read and discard a modest one so the client gets the answer
// rather than a reset connection; cut a large one off (or one never invited by 100-continue) with Connection: close.
import { finished } from "node:stream";
import type { IncomingMessage, ServerResponse } from "node:http";
import { closeAfterAnswer } from "./linger.ts";
import { sendError } from "./respond.ts";

const DISCARD_LIMIT = 16 * 1024 * 1024;

/** Requests that asked "Expect: 100-continue" and were not invited to send their body. */
const bodyNotInvited = new WeakSet<IncomingMessage>();

export function markBodyNotInvited(req: IncomingMessage): void {
  bodyNotInvited.add(req);
}

/** True once the whole body has been read (now or before); false when it is better to close the connection. */
async function discardUnreadBody(req: IncomingMessage): Promise<boolean> {
  if (req.readableEnded) return true;
  if (req.destroyed || bodyNotInvited.has(req)) return false;
  const declared = Number(req.headers["content-length"]);
  if (!Number.isFinite(declared) || declared > DISCARD_LIMIT) return false;
  req.resume();
  // settles on the end, an error or the connection closing: never waits on a request that can no longer end
  await new Promise<void>((resolve) => finished(req, () => resolve()));
  return req.readableEnded && req.complete;
}

export async function refuse(req: IncomingMessage, res: ServerResponse, status: number, error: string): Promise<void> {
  const drained = await discardUnreadBody(req);
  if (res.destroyed || res.socket === null || res.socket.destroyed) {
    // the client went away: nobody to answer; the status is kept for the request's log line
    res.statusCode = status;
    res.destroy();
    return;
  }
  if (!drained) closeAfterAnswer(req, res);
  sendError(res, status, error);
}

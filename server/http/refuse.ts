// Refusing a request whose body may still be arriving: read and discard a modest one so the client gets the answer
// rather than a reset connection; cut a large one off (or one never invited by 100-continue) with Connection: close.
import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import { sendError } from "./respond.ts";

const DISCARD_LIMIT = 16 * 1024 * 1024;

/** Requests that asked "Expect: 100-continue" and were not invited to send their body. */
const bodyNotInvited = new WeakSet<IncomingMessage>();

export function markBodyNotInvited(req: IncomingMessage): void {
  bodyNotInvited.add(req);
}

async function discardUnreadBody(req: IncomingMessage): Promise<boolean> {
  if (req.readableEnded) return true;
  if (bodyNotInvited.has(req)) return false;
  const declared = Number(req.headers["content-length"]);
  if (!Number.isFinite(declared) || declared > DISCARD_LIMIT) return false;
  req.resume();
  await once(req, "end").catch(() => undefined);
  return req.readableEnded;
}

export async function refuse(req: IncomingMessage, res: ServerResponse, status: number, error: string): Promise<void> {
  const drained = await discardUnreadBody(req);
  sendError(res, status, error, undefined, drained ? undefined : { Connection: "close" });
}

// POST /api/analyze: one .py file in field "file" → score and findings; every rejection is JSON with a precise error.
import { once } from "node:events";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { AnalysisService } from "../analysis-service.ts";
import { AnalyzerFailedError, AnalyzerUnavailableError, QueueFullError } from "../analyzers/index.ts";
import type { RequestWithId } from "../http/prelude.ts";
import { sendError, sendJson } from "../http/respond.ts";
import { StoreUnavailableError } from "../store/store.ts";
import { MULTIPART_OVERHEAD, receiveUpload, UploadError } from "../uploads/receive.ts";

export interface AnalyzeRouteOptions {
  service: AnalysisService;
  maxUploadBytes: number;
  retryAfterSeconds: number;
  logger: Logger;
}

/**
 * A body refused before it was read (too large, wrong type): one up to this size is read and discarded first, so the
 * client, still sending, gets the answer instead of a reset connection; a larger one is cut off with Connection: close.
 */
const DISCARD_LIMIT = 16 * 1024 * 1024;

/** Requests that asked "Expect: 100-continue" and were not invited to send their body (see createContinueCheck). */
const bodyNotInvited = new WeakSet<IncomingMessage>();

/** For the server's checkContinue event: invite a body only when its declared size can be accepted. */
export function createContinueCheck(listener: (req: IncomingMessage, res: ServerResponse) => void, maxUploadBytes: number) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const upload = req.url === "/api/analyze" || req.url?.startsWith("/api/analyze?");
    if (upload && Number(req.headers["content-length"]) > maxUploadBytes + MULTIPART_OVERHEAD) bodyNotInvited.add(req);
    else res.writeContinue();
    listener(req, res);
  };
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

export function analyzeRoute(options: AnalyzeRouteOptions) {
  const { service, maxUploadBytes, logger } = options;
  const retryAfter = { "Retry-After": String(options.retryAfterSeconds) };
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    let upload;
    try {
      upload = await receiveUpload(req, maxUploadBytes);
    } catch (error) {
      if (!(error instanceof UploadError)) throw error;
      const drained = await discardUnreadBody(req);
      sendError(res, error.status, error.message, undefined, drained ? undefined : { Connection: "close" });
      return;
    }
    try {
      sendJson(res, 200, await service.analyze(upload));
    } catch (error) {
      const reqId = (req as RequestWithId).id;
      if (error instanceof QueueFullError) {
        sendError(res, 503, "Server busy: too many analyses waiting; try again shortly", undefined, retryAfter);
      } else if (error instanceof AnalyzerUnavailableError) {
        sendError(res, 503, `Analysis unavailable: ${error.message}`, undefined, retryAfter);
      } else if (error instanceof StoreUnavailableError) {
        logger.error({ req_id: reqId, err: error.message }, "analysis not recorded");
        sendError(res, 503, "Analysis could not be saved: the database or upload storage is unavailable; try again shortly", undefined, retryAfter);
      } else if (error instanceof AnalyzerFailedError) {
        logger.warn({ req_id: reqId, err: error.message }, "analysis failed");
        sendError(res, 500, "Analysis failed", { details: error.message });
      } else {
        throw error;
      }
    }
  };
}

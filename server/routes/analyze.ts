// POST /api/analyze: one .py file in field "file" → score and findings; every rejection is JSON with a precise error.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { AnalysisService } from "../analysis-service.ts";
import { AnalyzerFailedError, AnalyzerUnavailableError, QueueFullError } from "../analyzers/index.ts";
import type { RequestWithId } from "../http/prelude.ts";
import { markBodyNotInvited, refuse } from "../http/refuse.ts";
import { requestPath } from "../http/request-path.ts";
import { sendError, sendJson } from "../http/respond.ts";
import { StoreUnavailableError } from "../store/store.ts";
import { MULTIPART_OVERHEAD, receiveUpload, UploadError } from "../uploads/receive.ts";

export interface AnalyzeRouteOptions {
  service: AnalysisService;
  maxUploadBytes: number;
  retryAfterSeconds: number;
  logger: Logger;
}

/** For the server's checkContinue event: invite a body only when its declared size can be accepted. */
export function createContinueCheck(listener: (req: IncomingMessage, res: ServerResponse) => void, maxUploadBytes: number) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const upload = requestPath(req) === "/api/analyze";
    if (upload && Number(req.headers["content-length"]) > maxUploadBytes + MULTIPART_OVERHEAD) markBodyNotInvited(req);
    else res.writeContinue();
    listener(req, res);
  };
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
      await refuse(req, res, error.status, error.message);
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

// POST /api/analyze: one .py file in field "file" → score and findings; every rejection is JSON with a precise error.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { AnalysisService } from "../analysis-service.ts";
import {
  AnalyzerFailedError,
  AnalyzerLimitError,
  AnalyzerMemoryError,
  AnalyzerOverloadedError,
  AnalyzerUnavailableError,
  ClientPenaltyError,
  QueueFullError,
  RecentlyTimedOutError,
} from "../analyzers/index.ts";
import type { InFlightLimit } from "../http/fair-share.ts";
import { budgetExceededMessage, type MemoryBudget } from "../http/memory-budget.ts";
import type { RequestWithId } from "../http/prelude.ts";
import { markBodyNotInvited, refuse } from "../http/refuse.ts";
import { normalizeTarget, requestPath } from "../http/request-path.ts";
import { sendAnswerWithCode, type SendLimits } from "../http/code-answer.ts";
import { sendError } from "../http/respond.ts";
import { StoreUnavailableError } from "../store/store.ts";
import { REPORT_MAX_BODY } from "./report.ts";
import { MULTIPART_OVERHEAD, receiveUpload, UploadError } from "../uploads/receive.ts";

export interface AnalyzeRouteOptions {
  service: AnalysisService;
  maxUploadBytes: number;
  retryAfterSeconds: number;
  logger: Logger;
  /** The key a request's client is counted under, and how many analyses each client may have in flight. */
  clientOf: (req: IncomingMessage) => string;
  perClient: InFlightLimit;
  /** Why the analyzers cannot take another job now (queue full, unavailable), or null when they can. */
  analyzersRefuse?: () => string | null;
  /** The server's budget for bytes held in memory: an upload reserves its share before its body is read. */
  memory: MemoryBudget;
  /** How long an answer may wait for the client to read it before the connection is cut. */
  /** How long an answer may wait for the client to read, and the average rate it must be taken at (http/code-answer.ts). */
  send: SendLimits;
}

/**
 * What an upload may hold in memory: its body (as declared, or the most any valid upload can send when it is chunked)
 * and the text decoded from it, which can take as many bytes again (an ASCII text as one byte a character, others two).
 */
export function uploadReservation(req: IncomingMessage, maxUploadBytes: number): number {
  const most = maxUploadBytes + MULTIPART_OVERHEAD;
  const declared = Number(req.headers["content-length"]);
  return 2 * (Number.isFinite(declared) && declared >= 0 ? Math.min(declared, most) : most);
}

/** An upload refused before its body is read: the answer it gets at once. */
export interface EarlyRefusal {
  status: number;
  error: string;
}

/** Uploads that asked "Expect: 100-continue" and were refused before being invited: answered at once by the route. */
const refusedBeforeBody = new WeakMap<IncomingMessage, EarlyRefusal>();

/**
 * Whether an upload would be refused whatever its body holds: its client is over its share (429), or the analyzers
 * cannot take another job (503). Asked before a body is invited with 100 Continue.
 */
export function uploadAdmission(options: Pick<AnalyzeRouteOptions, "clientOf" | "perClient" | "analyzersRefuse" | "memory" | "maxUploadBytes">) {
  return (req: IncomingMessage): EarlyRefusal | null => {
    if (options.perClient.inFlight(options.clientOf(req)) >= options.perClient.max) return { status: 429, error: tooManyMessage(options.perClient.max) };
    if (!options.memory.fits(uploadReservation(req, options.maxUploadBytes))) return { status: 503, error: budgetExceededMessage };
    const busy = options.analyzersRefuse?.();
    return busy ? { status: 503, error: busy } : null;
  };
}

const tooManyMessage = (max: number) => `Too many analyses from your address at once (at most ${max}); other users are being served, try again shortly`;

/**
 * For the server's checkContinue event: invite a body only when it can be accepted, by its declared size and, for
 * an upload, by admission (per-client share, analyzers' capacity); otherwise the refusal is answered at once.
 */
export function createContinueCheck(
  listener: (req: IncomingMessage, res: ServerResponse) => void,
  maxUploadBytes: number,
  admission: (req: IncomingMessage) => EarlyRefusal | null = () => null,
) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    normalizeTarget(req);
    const path = requestPath(req);
    const limit = path === "/api/analyze" ? maxUploadBytes + MULTIPART_OVERHEAD : path === "/api/report" ? REPORT_MAX_BODY : Infinity;
    const refusal = req.method === "POST" && path === "/api/analyze" ? admission(req) : null;
    if (refusal) refusedBeforeBody.set(req, refusal);
    if (refusal || Number(req.headers["content-length"]) > limit) markBodyNotInvited(req);
    else res.writeContinue();
    listener(req, res);
  };
}

export function analyzeRoute(options: AnalyzeRouteOptions) {
  const { service, maxUploadBytes, logger } = options;
  const retryAfter = { "Retry-After": String(options.retryAfterSeconds) };
  const analyze = async (req: IncomingMessage, res: ServerResponse, client: string): Promise<void> => {
    let upload;
    try {
      upload = await receiveUpload(req, maxUploadBytes);
    } catch (error) {
      if (!(error instanceof UploadError)) throw error;
      await refuse(req, res, error.status, error.message);
      return;
    }
    try {
      await sendAnswerWithCode(req, res, 200, await service.analyze(upload, client), upload.code, options.send);
    } catch (error) {
      const reqId = (req as RequestWithId).id;
      if (error instanceof QueueFullError) {
        sendError(res, 503, "Server busy: too many analyses waiting; try again shortly", undefined, retryAfter);
      } else if (error instanceof AnalyzerUnavailableError) {
        logger.error({ req_id: reqId, err: error.message }, "analyzers unavailable");
        sendError(res, 503, `Analysis unavailable: ${error.publicMessage}`, undefined, retryAfter);
      } else if (error instanceof StoreUnavailableError) {
        logger.error({ req_id: reqId, err: error.message }, "analysis not recorded");
        sendError(res, 503, "Analysis could not be saved: the database or upload storage is unavailable; try again shortly", undefined, retryAfter);
      } else if (error instanceof RecentlyTimedOutError) {
        sendError(res, 422, error.message, undefined, { "Retry-After": String(error.retryAfterSeconds) });
      } else if (error instanceof ClientPenaltyError) {
        sendError(res, 429, error.message, undefined, { "Retry-After": String(error.retryAfterSeconds) });
      } else if (error instanceof AnalyzerLimitError) {
        logger.warn({ req_id: reqId, err: error.message }, `analysis ran into the ${error instanceof AnalyzerMemoryError ? "memory" : "time"} limit`);
        sendError(res, 422, `Analysis stopped: ${error.message}. The same file is refused for a while; shorten or simplify it`);
      } else if (error instanceof AnalyzerOverloadedError) {
        logger.warn({ req_id: reqId, err: error.message }, "analysis cut off while the server was busy");
        sendError(res, 503, `Server busy: the analysis was cut off before it had its share of the server (${error.message}); the file is not blamed, try again shortly`, undefined, retryAfter);
      } else if (error instanceof AnalyzerFailedError) {
        logger.warn({ req_id: reqId, err: error.message }, "analysis failed");
        sendError(res, 500, "Analysis failed", { details: error.message });
      } else {
        throw error;
      }
    }
  };
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const early = refusedBeforeBody.get(req);
    if (early) {
      res.setHeader("Retry-After", String(options.retryAfterSeconds));
      await refuse(req, res, early.status, early.error);
      return;
    }
    const client = options.clientOf(req);
    const release = options.perClient.tryEnter(client);
    if (!release) {
      res.setHeader("Retry-After", String(options.retryAfterSeconds));
      await refuse(req, res, 429, tooManyMessage(options.perClient.max));
      return;
    }
    // checked before a byte of the body is read, whether or not the client asked "Expect: 100-continue"
    const releaseMemory = options.memory.tryReserve(uploadReservation(req, maxUploadBytes));
    if (!releaseMemory) {
      release();
      res.setHeader("Retry-After", String(options.retryAfterSeconds));
      markBodyNotInvited(req); // left unread: the connection closes after the answer
      await refuse(req, res, 503, budgetExceededMessage);
      return;
    }
    try {
      await analyze(req, res, client);
    } finally {
      releaseMemory();
      release();
    }
  };
}

// The HTTP application: routes of the CodeDetect contract on Polka, one prelude, JSON errors, 404/405 that say what exists.
import type { IncomingMessage, ServerResponse } from "node:http";
import compression from "compression";
import polka from "polka";
import type { Logger } from "pino";
import type { AnalysisService } from "./analysis-service.ts";
import type { ServerConfig } from "./config.ts";
import type { HealthMonitor } from "./health/monitor.ts";
import { clientAddress, clientKey } from "./http/client-address.ts";
import { InFlightLimit, RateLimit } from "./http/fair-share.ts";
import { MemoryBudget } from "./http/memory-budget.ts";
import { createPrelude, type RequestWithId } from "./http/prelude.ts";
import { invalidTarget, normalizeTarget, requestPath } from "./http/request-path.ts";
import { sendError } from "./http/respond.ts";
import type { StaticFiles } from "./http/static-files.ts";
import { closeAfterAnswer } from "./http/linger.ts";
import { duplicateHost, missingHost, unreadBodyTooLong } from "./http/unsupported.ts";
import { analyzeRoute, createContinueCheck, uploadAdmission } from "./routes/analyze.ts";
import { healthResponder, isHealthRequest } from "./routes/health.ts";
import { analysisRoute, historyRoute, infoRoute, statsRoute } from "./routes/read.ts";
import { reportRoute } from "./routes/report.ts";
import { StoreUnavailableError, type Store } from "./store/store.ts";
import type { FileStore } from "./uploads/file-store.ts";
import { onePerConnection } from "./http/pipelining.ts";
import type { SendLimits } from "./http/code-answer.ts";

export interface AppDeps {
  config: ServerConfig;
  logger: Logger;
  store: Store;
  /** The stored uploads: where an answer read back takes its code from. */
  files: FileStore;
  service: AnalysisService;
  monitor: HealthMonitor;
  web: StaticFiles;
  isDraining: () => boolean;
  /** Responses close their connections (any stop, a handover included); default: while draining. */
  isLeaving?: () => boolean;
  /** Why the analyzers cannot take another job now (e.g. the queue is full), or null: asked before inviting an upload's body. */
  analyzersRefuse?: () => string | null;
}

/** What routes share with the checks before a body is invited: who the client is and its share of the analyzers. */
interface Admission {
  clientOf: (req: IncomingMessage) => string;
  perClient: InFlightLimit;
  /** Bytes that upload bodies and stored answers may hold in memory at once, for the whole server. */
  memory: MemoryBudget;
}

const METHODS: Record<string, string> = {
  "/": "GET, HEAD",
  "/api/health": "GET, HEAD",
  "/api/analyze": "POST",
  "/api/stats": "GET, HEAD",
  "/api/info": "GET, HEAD",
  "/api/report": "POST",
  "/api/history": "GET, HEAD",
};
/** The routes that read a request body; any other leaves it unread. */
const BODY_ROUTES = new Set(["POST /api/analyze", "POST /api/report"]);
/** /api/analysis/<one segment>: the only shape of that route; anything longer or shorter does not exist. */
const ANALYSIS_PATH = /^\/api\/analysis\/[^/]+$/;

/** The methods a path's route allows ("GET, HEAD"...), or undefined when no route has that path. */
function allowedMethods(path: string): string | undefined {
  return METHODS[path] ?? (ANALYSIS_PATH.test(path) ? "GET, HEAD" : undefined);
}

function noMatch(req: IncomingMessage, res: ServerResponse): void {
  const path = requestPath(req);
  const allowed = allowedMethods(path);
  if (allowed) sendError(res, 405, `Method ${req.method} not allowed on ${path}; use ${allowed}`, undefined, { Allow: allowed });
  else if (path === "/api/analysis") sendError(res, 404, `Not found: ${req.method} ${path}; use /api/analysis/<sha256 of the file>`);
  else sendError(res, 404, `Not found: ${req.method} ${path}`);
}

function createAdmission(deps: AppDeps): Admission {
  return {
    clientOf: (req) => clientKey(clientAddress(req, deps.config.trustedProxies)),
    perClient: new InFlightLimit(deps.config.clientMaxAnalyses),
    memory: new MemoryBudget(deps.config.requestMemoryBytes),
  };
}

export function createApp(deps: AppDeps, admission: Admission = createAdmission(deps)) {
  const { config, logger, store, web } = deps;
  const onError = (error: unknown, req: IncomingMessage, res: ServerResponse) => {
    const reqId = (req as RequestWithId).id;
    if (res.headersSent) {
      logger.error({ req_id: reqId, err: error }, "error after the response started");
      res.destroy();
      return;
    }
    if (error instanceof StoreUnavailableError) {
      logger.error({ req_id: reqId, err: error.message }, "database unavailable");
      sendError(res, 503, "The database is unavailable; try again shortly", undefined, { "Retry-After": "5" });
      return;
    }
    logger.error({ req_id: reqId, err: error }, "unhandled error");
    sendError(res, 500, "Internal server error", { request_id: reqId });
  };
  const app = polka({ onError: onError as never, onNoMatch: noMatch as never });
  app.use(createPrelude({ logger, corsOrigins: config.corsOrigins, isDraining: deps.isLeaving ?? deps.isDraining, allowedMethods }));
  // gzip/brotli for the page's files and JSON over 1 KB, as the client accepts (Vary: Accept-Encoding); /api/health
  // never gets here (requestListener answers it first), so a probe's answer stays small, uncompressed and fast.
  // An answer carrying a large file's code is gzipped by its own writer (server/http/code-answer.ts): this leaves it be.
  app.use(compression() as never);
  const { clientOf, perClient, memory } = admission;
  const send: SendLimits = { stallMs: config.sendTimeoutSeconds * 1000, minBytesPerSecond: config.sendMinBytesPerSecond };
  const retryAfterSeconds = 5;
  app.post("/api/analyze", analyzeRoute({ service: deps.service, maxUploadBytes: config.maxUploadBytes, retryAfterSeconds, logger, clientOf, perClient, memory, send }));
  app.get("/api/stats", statsRoute(store));
  const reads = { store, files: deps.files, clientOf, perClient: new InFlightLimit(config.clientMaxReads), memory, send, retryAfterSeconds };
  app.get("/api/analysis/:file_hash", analysisRoute(reads));
  app.get("/api/info", infoRoute(config));
  app.post("/api/report", reportRoute(store, { clientOf, perClient: new RateLimit(config.clientReportsPerMinute) }));
  app.get("/api/history", historyRoute());
  const page = (req: IncomingMessage, res: ServerResponse) => web.serve("index.html", req, res);
  app.get("/", page);
  app.head("/", page);
  app.get("/static/:name", (req: IncomingMessage & { params: Record<string, string> }, res: ServerResponse) => web.serve(req.params.name ?? "", req, res));
  return app;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/** The server's request listener and its checkContinue handler, sharing the per-client counts. */
export function createServerHandlers(deps: AppDeps): { listener: Listener; checkContinue: Listener } {
  const admission = createAdmission(deps);
  const listener = requestListener(deps, admission);
  const admit = uploadAdmission({ ...admission, analyzersRefuse: deps.analyzersRefuse, maxUploadBytes: deps.config.maxUploadBytes });
  return { listener, checkContinue: createContinueCheck(listener, deps.config.maxUploadBytes, admit) };
}

/** The server's one request listener: health straight to its responder, everything else through the router. */
export function createRequestListener(deps: AppDeps): Listener {
  return requestListener(deps, createAdmission(deps));
}

function requestListener(deps: AppDeps, admission: Admission): Listener {
  const health = healthResponder(deps.monitor, deps.config.version, deps.isDraining, deps.logger);
  const route = createApp(deps, admission).handler as unknown as Listener;
  // HEAD is answered like GET (Node sends the headers without the body), on health as everywhere else
  const isHealth = (req: IncomingMessage) => isHealthRequest(req) || (req.method === "HEAD" && requestPath(req) === "/api/health");
  const pipelining = { maxWaiting: deps.config.maxPipelinedRequests, sendTimeoutMs: deps.config.sendTimeoutSeconds * 1000, logger: deps.logger };
  return onePerConnection((req, res) => {
    normalizeTarget(req);
    const path = requestPath(req);
    if (unreadBodyTooLong(req, BODY_ROUTES.has(`${req.method} ${path}`))) closeAfterAnswer(req, res);
    if (missingHost(req)) {
      res.setHeader("Connection", "close");
      sendError(res, 400, "Missing Host header: HTTP/1.1 requires one");
      deps.logger.warn({ method: req.method, path, status: 400 }, "request refused: no Host header");
      return;
    }
    const badTarget = invalidTarget(req);
    if (badTarget !== null) {
      res.setHeader("Connection", "close");
      sendError(res, 400, `Invalid request target: ${badTarget}`);
      deps.logger.warn({ method: req.method, status: 400, target: path.slice(0, 200) }, "request refused: invalid absolute-form target");
      return;
    }
    if (duplicateHost(req)) {
      // RFC 9112 §3.2: more than one Host field line is answered 400 (proxies and this server could disagree on which counts)
      res.setHeader("Connection", "close");
      sendError(res, 400, "More than one Host header: a request has exactly one");
      deps.logger.warn({ method: req.method, path, status: 400 }, "request refused: several Host headers");
      return;
    }
    if (isHealth(req)) health(req, res);
    else route(req, res);
  }, pipelining);
}

// The HTTP application: routes of the CodeDetect contract on Polka, one prelude, JSON errors, 404/405 that say what exists.
import type { IncomingMessage, ServerResponse } from "node:http";
import polka from "polka";
import type { Logger } from "pino";
import type { AnalysisService } from "./analysis-service.ts";
import type { ServerConfig } from "./config.ts";
import type { HealthMonitor } from "./health/monitor.ts";
import { clientAddress, clientKey } from "./http/client-address.ts";
import { InFlightLimit, RateLimit } from "./http/fair-share.ts";
import { createPrelude, type RequestWithId } from "./http/prelude.ts";
import { requestPath } from "./http/request-path.ts";
import { sendError } from "./http/respond.ts";
import type { StaticFiles } from "./http/static-files.ts";
import { analyzeRoute } from "./routes/analyze.ts";
import { healthResponder, isHealthRequest } from "./routes/health.ts";
import { analysisRoute, historyRoute, infoRoute, statsRoute } from "./routes/read.ts";
import { reportRoute } from "./routes/report.ts";
import { StoreUnavailableError, type Store } from "./store/store.ts";

export interface AppDeps {
  config: ServerConfig;
  logger: Logger;
  store: Store;
  service: AnalysisService;
  monitor: HealthMonitor;
  web: StaticFiles;
  isDraining: () => boolean;
}

const METHODS: Record<string, string> = {
  "/": "GET, HEAD",
  "/api/health": "GET",
  "/api/analyze": "POST",
  "/api/stats": "GET",
  "/api/info": "GET",
  "/api/report": "POST",
  "/api/history": "GET",
};

function noMatch(req: IncomingMessage, res: ServerResponse): void {
  const path = requestPath(req);
  const allowed = METHODS[path] ?? (path.startsWith("/api/analysis/") ? "GET" : undefined);
  if (allowed) sendError(res, 405, `Method ${req.method} not allowed on ${path}; use ${allowed}`, undefined, { Allow: allowed });
  else sendError(res, 404, `Not found: ${req.method} ${path}`);
}

export function createApp(deps: AppDeps) {
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
  app.use(createPrelude({ logger, corsOrigins: config.corsOrigins, isDraining: deps.isDraining }));
  const clientOf = (req: IncomingMessage) => clientKey(clientAddress(req, config.trustedProxies));
  const perClient = new InFlightLimit(config.clientMaxAnalyses);
  app.post("/api/analyze", analyzeRoute({ service: deps.service, maxUploadBytes: config.maxUploadBytes, retryAfterSeconds: 5, logger, clientOf, perClient }));
  app.get("/api/stats", statsRoute(store));
  app.get("/api/analysis/:file_hash", analysisRoute(store));
  app.get("/api/info", infoRoute(config));
  app.post("/api/report", reportRoute(store, { clientOf, perClient: new RateLimit(config.clientReportsPerMinute) }));
  app.get("/api/history", historyRoute());
  const page = (req: IncomingMessage, res: ServerResponse) => web.serve("index.html", req, res);
  app.get("/", page);
  app.head("/", page);
  app.get("/static/:name", (req: IncomingMessage & { params: Record<string, string> }, res: ServerResponse) => web.serve(req.params.name ?? "", req, res));
  return app;
}

/** The server's one request listener: health straight to its responder, everything else through the router. */
export function createRequestListener(deps: AppDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const health = healthResponder(deps.monitor, deps.config.version, deps.isDraining, deps.logger);
  const route = createApp(deps).handler as unknown as (req: IncomingMessage, res: ServerResponse) => void;
  return (req, res) => (isHealthRequest(req) ? health(req, res) : route(req, res));
}

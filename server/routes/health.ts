// GET /api/health: answered from the monitor's last checks (no analyzer run, no disk I/O); 503 when a check fails or while draining.
// A load balancer asks this every few seconds from every node, so it skips the router and writes its headers in one call.
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { HealthMonitor } from "../health/monitor.ts";
import { validRequestId } from "../http/prelude.ts";
import { requestPath } from "../http/request-path.ts";

export function isHealthRequest(req: IncomingMessage): boolean {
  return req.method === "GET" && requestPath(req) === "/api/health";
}

export function healthResponder(monitor: HealthMonitor, version: string, isDraining: () => boolean, logger: Logger) {
  const head = `{"service":"CodeDetect API","version":${JSON.stringify(version)},"status":`;
  // A probe's answer needs no page protections (frame, referrer, CSP, sniffing: its body is our own JSON), only
  // not to be cached. Every header costs on a path asked tens of thousands of times a second.
  const fixedHeaders = ["Content-Type", "application/json; charset=utf-8", "Cache-Control", "no-store"];
  const logged = logger.isLevelEnabled("debug");
  return (req: IncomingMessage, res: ServerResponse): void => {
    const snapshot = monitor.snapshot();
    const draining = isDraining();
    const status = draining ? "draining" : snapshot.ok ? "healthy" : "unhealthy";
    const json = `${head}"${status}","timestamp":"${new Date().toISOString()}","checks":${snapshot.checksJson}}`;
    const headers = fixedHeaders.concat("Content-Length", String(Buffer.byteLength(json)));
    // A caller tracing its probes gets its id back; for the load balancer's own probes none is made up,
    // since their request lines are not logged at the default level.
    const id = validRequestId(req.headers["x-request-id"]);
    if (id) headers.push("X-Request-Id", id);
    if (draining) headers.push("Connection", "close");
    const code = status === "healthy" ? 200 : 503;
    res.writeHead(code, headers);
    res.end(json);
    if (logged) logger.debug({ req_id: id ?? randomUUID(), method: "GET", path: "/api/health", status: code }, "request");
  };
}

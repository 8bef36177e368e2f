// GET /api/health: answered from the monitor's last checks (no analyzer run, no disk I/O); 503 when a check fails or while draining.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { HealthMonitor } from "../health/monitor.ts";
import { sendJsonText } from "../http/respond.ts";

export function healthRoute(monitor: HealthMonitor, version: string, isDraining: () => boolean) {
  const head = `{"service":"CodeDetect API","version":${JSON.stringify(version)},"status":`;
  return (_req: IncomingMessage, res: ServerResponse): void => {
    const snapshot = monitor.snapshot();
    const status = isDraining() ? "draining" : snapshot.ok ? "healthy" : "unhealthy";
    const json = `${head}"${status}","timestamp":"${new Date().toISOString()}","checks":${snapshot.checksJson}}`;
    sendJsonText(res, status === "healthy" ? 200 : 503, json);
  };
}

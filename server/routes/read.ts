// GET routes that read: /api/stats (computed in SQL), /api/analysis/:file_hash, /api/info, and /api/history (410).
import type { IncomingMessage, ServerResponse } from "node:http";
import os from "node:os";
import type { ServerConfig } from "../config.ts";
import { sendError, sendJson, sendJsonText } from "../http/respond.ts";
import type { Store } from "../store/store.ts";

const TREND_LENGTH = 10;
const HASH = /^[0-9a-f]{64}$/;

export const FEATURES = [
  "pylint quality analysis",
  "bandit security analysis",
  "radon complexity analysis",
  "warm analyzers, run concurrently",
  "content-addressed uploads with retention",
  "dashboard statistics and trend",
  "downloadable text report",
];

export function statsRoute(store: Store) {
  return async (_req: IncomingMessage, res: ServerResponse) => sendJson(res, 200, await store.stats(TREND_LENGTH));
}

export function analysisRoute(store: Store) {
  return async (req: IncomingMessage & { params: Record<string, string> }, res: ServerResponse) => {
    const hash = (req.params.file_hash ?? "").toLowerCase();
    if (!HASH.test(hash)) return sendError(res, 400, "file_hash must be 64 hexadecimal characters (a sha256)");
    const stored = await store.findResult(hash);
    if (!stored) return sendError(res, 404, `No stored analysis for ${hash} (never analysed, or removed after the retention period)`);
    sendJsonText(res, 200, stored.resultJson);
  };
}

export function infoRoute(config: ServerConfig) {
  const { deployment } = config;
  return (_req: IncomingMessage, res: ServerResponse) =>
    sendJson(res, 200, {
      version: config.version,
      // docker_tag, active_environment, deployed_by and environment.aws_region: the names the earlier page reads
      deployment: {
        image_tag: deployment.imageTag,
        docker_tag: deployment.imageTag,
        image_digest: deployment.imageDigest,
        deployed_at: deployment.deployedAt,
        git_commit: deployment.gitCommit,
        instance_id: deployment.instanceId,
        availability_zone: deployment.availabilityZone,
        active_environment: deployment.activeEnvironment,
        deployed_by: deployment.deployedBy,
        host: os.hostname(),
      },
      features: FEATURES,
      environment: { region: deployment.region, aws_region: deployment.region, node: process.version, retention_days: config.retentionDays, max_upload_bytes: config.maxUploadBytes },
      timestamp: new Date().toISOString(),
    });
}

export function historyRoute() {
  return (_req: IncomingMessage, res: ServerResponse) =>
    sendError(res, 410, "History was removed for privacy: analyses are no longer listed; use /api/stats for totals");
}

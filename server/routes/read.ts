// GET routes that read: /api/stats (computed in SQL), /api/analysis/:file_hash, /api/info, and /api/history (410).
import type { IncomingMessage, ServerResponse } from "node:http";
import os from "node:os";
import type { ServerConfig } from "../config.ts";
import { parseStoredAnswer } from "../analysis-service.ts";
import { sendAnswerWithCode, type SendLimits } from "../http/code-answer.ts";
import type { InFlightLimit } from "../http/fair-share.ts";
import { budgetExceededMessage, type MemoryBudget } from "../http/memory-budget.ts";
import { sendError, sendJson } from "../http/respond.ts";
import type { Store } from "../store/store.ts";
import type { FileStore } from "../uploads/file-store.ts";
import { decodePythonSource } from "../uploads/source-encoding.ts";

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

export interface AnalysisReadOptions {
  store: Store;
  /** Where the code is: the stored result does not carry it. */
  files: FileStore;
  clientOf: (req: IncomingMessage) => string;
  /** Reads of stored analyses one client may have in flight at once: fair per client, like analyses. */
  perClient: InFlightLimit;
  /** The server's budget for bytes in memory: a read reserves the file's bytes and their text before reading them. */
  memory: MemoryBudget;
  /** How long an answer may wait for the client to read, and the average rate it must be taken at (http/code-answer.ts). */
  send: SendLimits;
  retryAfterSeconds: number;
}

/** GET /api/analysis/:file_hash: the stored answer (findings) with the code read from the stored upload, sent a slice at a time. */
export function analysisRoute(options: AnalysisReadOptions) {
  const { store, files } = options;
  const retryAfter = { "Retry-After": String(options.retryAfterSeconds) };
  const gone = (hash: string) => `No stored analysis for ${hash} (never analysed, or removed after the retention period)`;
  return async (req: IncomingMessage & { params: Record<string, string> }, res: ServerResponse) => {
    const hash = (req.params.file_hash ?? "").toLowerCase();
    if (!HASH.test(hash)) return sendError(res, 400, "file_hash must be 64 hexadecimal characters (a sha256)");
    const release = options.perClient.tryEnter(options.clientOf(req));
    if (!release) return sendError(res, 429, `Too many reads from your address at once (at most ${options.perClient.max}); try again shortly`, undefined, retryAfter);
    res.once("close", release);
    const stored = await store.findResult(hash);
    const size = stored && (await files.size(hash));
    if (!stored || size === null) return sendError(res, 404, gone(hash));
    const releaseMemory = options.memory.tryReserve(2 * size);
    if (!releaseMemory) return sendError(res, 503, budgetExceededMessage, undefined, retryAfter);
    res.once("close", releaseMemory);
    const bytes = await files.read(hash);
    if (bytes === null) return sendError(res, 404, gone(hash));
    await sendAnswerWithCode(req, res, 200, parseStoredAnswer(stored.resultJson), decodePythonSource(bytes), options.send);
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

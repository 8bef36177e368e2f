// Server configuration: read once from the environment, validated, with a precise error naming the variable.
import type { BlockList } from "node:net";
import os from "node:os";
import path from "node:path";
import { parseTrustedProxies, TrustedProxiesError } from "./http/client-address.ts";
import { LOAD_BALANCER_IDLE_TIMEOUT_SECONDS } from "./http/keep-alive.ts";
import { DatabaseUrlError, validateDatabaseUrl } from "./store/postgres-url.ts";

export interface ServerConfig {
  host: string;
  port: number;
  /** SO_REUSEPORT on the listener (REUSE_PORT=1): a new version joins the port beside the old one during an in-place update (compose/README.md "In-place update"). Off by default, so that a second server on a taken port fails with EADDRINUSE. */
  reusePort: boolean;
  /** HEALTH_SOCKET: a Unix socket that answers like the port. Beside another version on the shared port, the container's health check must reach this process, not whichever listener the kernel picks. */
  healthSocket: string | null;
  dataDir: string;
  drainSeconds: number;
  retentionDays: number;
  sweepIntervalSeconds: number;
  maxUploadBytes: number;
  analyzerWorkers: number;
  analyzerQueue: number;
  analyzerTimeoutSeconds: number;
  analyzerMaxWaitSeconds: number;
  analyzerRecycleMb: number;
  /** Hard memory ceiling of each analyzer process (its address space), in MiB: a file that needs more is a 422. */
  analyzerMemoryMb: number;
  analyzerPython: string | undefined;
  /** How long content that ran into the analyzer time limit is refused at once (0: not remembered). */
  analyzerTimeoutMemorySeconds: number;
  /** The load balancer's idle timeout: the server keeps idle connections longer than this (see http/keep-alive.ts). */
  loadBalancerIdleTimeoutSeconds: number;
  /** Proxies (the load balancer's subnets) whose X-Forwarded-For names the client; null: the peer is the client. */
  trustedProxies: BlockList | null;
  /** Analyses one client may have in flight (running and waiting); beyond it 429. */
  clientMaxAnalyses: number;
  /** Bytes that upload bodies and stored answers being sent may hold in memory at once; beyond it 503 before a body is read. */
  requestMemoryBytes: number;
  /** Reads of stored analyses one client may have in flight at once; beyond it 429. */
  clientMaxReads: number;
  /** How long an answer may sit unsent (the client not reading it) before its connection is cut. */
  sendTimeoutSeconds: number;
  /** A streamed answer must be taken at this average rate (after SEND_TIMEOUT_SECONDS of grace), or its connection closes. */
  sendMinBytesPerSecond: number;
  /** Pipelined requests one connection may have waiting behind its current one; beyond it the connection is closed. */
  maxPipelinedRequests: number;
  /** Reports one client may send a minute (a burst of as many after a quiet minute); beyond it 429. */
  clientReportsPerMinute: number;
  healthIntervalSeconds: number;
  dbBusyRetrySeconds: number;
  /** PostgreSQL instead of SQLite under DATA_DIR when set (never logged: it may hold a password). */
  databaseUrl: string | null;
  /** PEM bundle the PostgreSQL server's certificate must chain to (RDS's bundle in production). */
  databaseCaFile: string | null;
  /** Connections one server process keeps to PostgreSQL at most. */
  databasePoolSize: number;
  logLevel: string;
  corsOrigins: string[];
  version: string;
  deployment: {
    imageTag: string | null;
    imageDigest: string | null;
    deployedAt: string | null;
    gitCommit: string | null;
    instanceId: string | null;
    availabilityZone: string | null;
    region: string | null;
    /** Which of two environments (blue/green) this instance belongs to, for the page's deployment panel. */
    activeEnvironment: string | null;
    deployedBy: string | null;
  };
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

function text(env: Env, name: string): string | null {
  const value = env[name]?.trim();
  return value ? value : null;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = text(env, name);
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number between ${min} and ${max}, got "${raw}"`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function absolutePath(env: Env, name: string): string | null {
  const value = text(env, name);
  if (value !== null && !path.isAbsolute(value)) throw new ConfigError(`${name} must be an absolute path, got "${value}"`);
  return value;
}

function origins(env: Env, name: string): string[] {
  const raw = text(env, name);
  if (raw === null) return [];
  return raw.split(",").map((origin) => {
    const trimmed = origin.trim();
    if (trimmed === "*") throw new ConfigError(`${name} must list exact origins; "*" is not allowed`);
    let url: URL;
    try {
      url = new URL(trimmed);
    } catch {
      throw new ConfigError(`${name} has an invalid origin "${trimmed}" (expected e.g. https://app.example.org)`);
    }
    if (url.origin !== trimmed) throw new ConfigError(`${name} has "${trimmed}", which is not a bare origin (scheme://host[:port])`);
    return trimmed;
  });
}

function trustedProxies(env: Env, name: string): BlockList | null {
  const raw = text(env, name);
  if (raw === null) return null;
  try {
    return parseTrustedProxies(raw);
  } catch (error) {
    if (error instanceof TrustedProxiesError) throw new ConfigError(`${name} ${error.message}`);
    throw error;
  }
}

function databaseUrl(env: Env, name: string): string | null {
  const raw = text(env, name);
  if (raw === null) return null;
  try {
    validateDatabaseUrl(raw);
  } catch (error) {
    // the value itself is not repeated: it may hold a password
    if (error instanceof DatabaseUrlError) throw new ConfigError(`${name} ${error.message}`);
    throw error;
  }
  return raw;
}

/** By default a client may hold all lanes but one and a quarter of the queue. */
function defaultClientShare(workers: number, queue: number): number {
  return Math.max(1, workers - 1) + (queue === 0 ? 0 : Math.max(1, Math.ceil(queue / 4)));
}

function databaseSettings(env: Env): Pick<ServerConfig, "databaseUrl" | "databaseCaFile" | "databasePoolSize"> {
  const url = databaseUrl(env, "DATABASE_URL");
  const caFile = text(env, "DATABASE_CA_FILE");
  if (caFile !== null && url === null) throw new ConfigError("DATABASE_CA_FILE is set but DATABASE_URL is not: the CA file is for a PostgreSQL server");
  return { databaseUrl: url, databaseCaFile: caFile === null ? null : path.resolve(caFile), databasePoolSize: integer(env, "DATABASE_POOL_SIZE", 10, 1, 100) };
}

export function loadConfig(env: Env = process.env, packageVersion = "0.0.0"): ServerConfig {
  const dataDir = text(env, "DATA_DIR") ?? path.resolve("data");
  const logLevel = text(env, "LOG_LEVEL") ?? "info";
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  const cpus = Math.max(1, os.availableParallelism());
  const analyzerWorkers = integer(env, "ANALYZER_WORKERS", cpus, 1, 64);
  const analyzerQueue = integer(env, "ANALYZER_QUEUE", 16, 0, 10000);
  const analyzerRecycleMb = integer(env, "ANALYZER_RECYCLE_MB", 512, 64, 65536);
  const analyzerMemoryMb = integer(env, "ANALYZER_MEMORY_MB", 1024, 256, 65536);
  // a process is recycled by its resident memory after a job; its ceiling is on address space, always at least that
  if (analyzerMemoryMb <= analyzerRecycleMb) {
    throw new ConfigError(`ANALYZER_MEMORY_MB (${analyzerMemoryMb}) must be above ANALYZER_RECYCLE_MB (${analyzerRecycleMb}): a worker is recycled below its ceiling, never stopped by it while idle`);
  }
  return {
    host: text(env, "HOST") ?? "0.0.0.0",
    port: integer(env, "PORT", 5000, 0, 65535),
    reusePort: integer(env, "REUSE_PORT", 0, 0, 1) === 1,
    healthSocket: absolutePath(env, "HEALTH_SOCKET"),
    dataDir: path.resolve(dataDir),
    drainSeconds: integer(env, "DRAIN_SECONDS", 30, 0, 3600),
    retentionDays: integer(env, "RETENTION_DAYS", 7, 1, 3650),
    sweepIntervalSeconds: integer(env, "SWEEP_INTERVAL_SECONDS", 3600, 1, 86400),
    maxUploadBytes: integer(env, "MAX_UPLOAD_BYTES", 5 * 1024 * 1024, 1, 5 * 1024 * 1024),
    analyzerWorkers,
    analyzerQueue,
    analyzerTimeoutSeconds: integer(env, "ANALYZER_TIMEOUT_SECONDS", 20, 1, 55),
    analyzerMaxWaitSeconds: integer(env, "ANALYZER_MAX_WAIT_SECONDS", 25, 0, 55),
    analyzerRecycleMb,
    analyzerMemoryMb,
    analyzerPython: text(env, "ANALYZER_PYTHON") ?? undefined,
    analyzerTimeoutMemorySeconds: integer(env, "ANALYZER_TIMEOUT_MEMORY_SECONDS", 600, 0, 86400),
    // ALB's range for idle_timeout.timeout_seconds: 1-4000
    loadBalancerIdleTimeoutSeconds: integer(env, "LB_IDLE_TIMEOUT_SECONDS", LOAD_BALANCER_IDLE_TIMEOUT_SECONDS, 1, 4000),
    trustedProxies: trustedProxies(env, "TRUSTED_PROXIES"),
    clientMaxAnalyses: integer(env, "CLIENT_MAX_ANALYSES", defaultClientShare(analyzerWorkers, analyzerQueue), 1, 10000),
    clientReportsPerMinute: integer(env, "CLIENT_REPORTS_PER_MINUTE", 10, 1, 10000),
    requestMemoryBytes: integer(env, "REQUEST_MEMORY_MB", 256, 16, 65536) * 1024 * 1024,
    clientMaxReads: integer(env, "CLIENT_MAX_READS", 4, 1, 10000),
    sendTimeoutSeconds: integer(env, "SEND_TIMEOUT_SECONDS", 30, 1, 3600),
    sendMinBytesPerSecond: integer(env, "SEND_MIN_BYTES_PER_SECOND", 64 * 1024, 1024, 1024 * 1024 * 1024),
    maxPipelinedRequests: integer(env, "MAX_PIPELINED_REQUESTS", 16, 1, 1000),
    healthIntervalSeconds: integer(env, "HEALTH_INTERVAL_SECONDS", 5, 1, 300),
    dbBusyRetrySeconds: integer(env, "DB_BUSY_RETRY_SECONDS", 15, 1, 50),
    ...databaseSettings(env),
    logLevel,
    corsOrigins: origins(env, "CORS_ORIGINS"),
    version: text(env, "APP_VERSION") ?? packageVersion,
    deployment: {
      // DOCKER_TAG and DEPLOYMENT_TIME: the names the earlier deployment scripts set, still accepted
      imageTag: text(env, "IMAGE_TAG") ?? text(env, "DOCKER_TAG"),
      imageDigest: text(env, "IMAGE_DIGEST"),
      deployedAt: text(env, "DEPLOYED_AT") ?? text(env, "DEPLOYMENT_TIME"),
      gitCommit: text(env, "GIT_COMMIT"),
      instanceId: text(env, "INSTANCE_ID"),
      availabilityZone: text(env, "AVAILABILITY_ZONE"),
      region: text(env, "AWS_REGION") ?? text(env, "AWS_DEFAULT_REGION"),
      activeEnvironment: text(env, "ACTIVE_ENVIRONMENT"),
      deployedBy: text(env, "DEPLOYED_BY"),
    },
  };
}

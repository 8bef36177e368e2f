// The typed model of an instance's stack: what runs, from which image digest, with which storage, limits and logging.
import path from "node:path";
import { configError } from "./errors.ts";

export interface ImageRef {
  /** Registry and repository, e.g. "123.dkr.ecr.eu-west-1.amazonaws.com/codedetect" or "127.0.0.1:5000/codedetect". */
  repository: string;
  tag: string;
  /** "sha256:" and 64 hex digits: what is actually run. */
  digest: string;
}

export interface HealthModel {
  intervalSeconds: number;
  timeoutSeconds: number;
  retries: number;
  /** Failures in this period after start do not count; a success ends it. */
  startPeriodSeconds: number;
}

export type LoggingModel =
  | { driver: "json-file"; maxSize: string; maxFiles: number }
  | { driver: "awslogs"; group: string; region: string | null; stream: string | null };

export interface StackModel {
  project: string;
  service: string;
  image: ImageRef;
  port: { bind: string; host: number; container: number };
  /** Host directories (the EFS mount) bound to the container's data directory. */
  storage: { efsRoot: string; database: string; uploads: string };
  /** The container's DATA_DIR; database/ and uploads/ under it are the bound directories. */
  dataDir: string;
  drainSeconds: number;
  stopGraceSeconds: number;
  /** Extra environment for the server; the model's own keys (DATA_DIR, PORT, …) cannot be overridden. */
  environment: Record<string, string>;
  logging: LoggingModel;
  health: HealthModel;
  restart: "unless-stopped" | "always" | "on-failure" | "no";
  user: string;
  tmpfsSize: string;
}

export interface StackInput {
  /** "repository:tag@sha256:…": the tag says which version, the digest pins it. */
  image: string;
  /** Where the shared file system is mounted on the host, e.g. /mnt/efs. */
  efsRoot: string;
  project?: string;
  service?: string;
  bindAddress?: string;
  hostPort?: number;
  containerPort?: number;
  drainSeconds?: number;
  stopGraceSeconds?: number;
  environment?: Record<string, string>;
  /** CloudWatch Logs group: when set the awslogs driver is used, else json-file with rotation. */
  logGroup?: string;
  logRegion?: string;
  logStream?: string;
  logMaxSize?: string;
  logMaxFiles?: number;
  health?: Partial<HealthModel>;
  restart?: StackModel["restart"];
  tmpfsSize?: string;
}

/** The server's own shutdown after the drain: in-flight requests get ANALYZER_TIMEOUT_SECONDS + 10 (30 s by default). */
export const IN_FLIGHT_GRACE_SECONDS = 30;
/** Environment the model sets itself (from its own fields). */
export const MODEL_ENV_KEYS = ["DATA_DIR", "PORT", "HOST", "DRAIN_SECONDS", "IMAGE_TAG", "IMAGE_DIGEST"] as const;

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const REPOSITORY = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^\w[\w.-]{0,127}$/;

export function parseImageRef(text: string): ImageRef {
  const at = text.indexOf("@");
  const slash = text.lastIndexOf("/", at === -1 ? undefined : at);
  const colon = text.lastIndexOf(":", at === -1 ? undefined : at);
  const next = 'give the image as "repository:tag@sha256:<64 hex digits>" (e.g. from `docker push` output)';
  if (at === -1) throw configError("image", `"${text}" has no digest`, next);
  if (colon <= slash) throw configError("image", `"${text}" has no tag`, next);
  const ref = { repository: text.slice(0, colon), tag: text.slice(colon + 1, at), digest: text.slice(at + 1) };
  if (!REPOSITORY.test(ref.repository)) throw configError("image", `"${ref.repository}" is not a valid repository name`, next);
  if (!TAG.test(ref.tag)) throw configError("image", `"${ref.tag}" is not a valid tag`, next);
  if (!DIGEST.test(ref.digest)) throw configError("image", `"${ref.digest}" is not a sha256 digest`, next);
  return ref;
}

export function imageRefString(ref: ImageRef): string {
  return `${ref.repository}:${ref.tag}@${ref.digest}`;
}

function whole(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw configError(name, `must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`, `fix ${name} in the stack configuration`);
  }
  return value;
}

function matching(name: string, value: string, pattern: RegExp, example: string): string {
  if (!pattern.test(value)) throw configError(name, `"${value}" is not valid`, `use a value like ${example}`);
  return value;
}

/** Resolves defaults and validates once; every later step trusts the model. */
export function defineStack(input: StackInput): StackModel {
  const image = parseImageRef(input.image);
  if (!path.posix.isAbsolute(input.efsRoot)) throw configError("efsRoot", `"${input.efsRoot}" is not an absolute path`, "give the host's EFS mount point, e.g. /mnt/efs");
  const efsRoot = path.posix.normalize(input.efsRoot).replace(/(.)\/$/, "$1");
  const drainSeconds = whole("drainSeconds", input.drainSeconds ?? 30, 0, 3600);
  const stopGraceSeconds = whole("stopGraceSeconds", input.stopGraceSeconds ?? drainSeconds + IN_FLIGHT_GRACE_SECONDS + 10, 1, 7200);
  if (stopGraceSeconds <= drainSeconds) {
    throw configError("stopGraceSeconds", `${stopGraceSeconds} s is not longer than the drain period (${drainSeconds} s): Docker would kill the server mid-drain`, `set stopGraceSeconds above ${drainSeconds}, or leave it unset`);
  }
  const environment: Record<string, string> = {};
  for (const [key, value] of Object.entries(input.environment ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    matching("environment", key, /^[A-Za-z_][A-Za-z0-9_]*$/, "LOG_LEVEL");
    if ((MODEL_ENV_KEYS as readonly string[]).includes(key)) throw configError(`environment.${key}`, "is set by the stack model itself", `remove it; set the model's own field instead`);
    if (typeof value !== "string") throw configError(`environment.${key}`, `must be a string, got ${typeof value}`, `quote the value`);
    environment[key] = value;
  }
  const logging: LoggingModel = input.logGroup
    ? { driver: "awslogs", group: input.logGroup, region: input.logRegion ?? null, stream: input.logStream ?? null }
    : { driver: "json-file", maxSize: matching("logMaxSize", input.logMaxSize ?? "10m", /^\d+[kmg]$/, "10m"), maxFiles: whole("logMaxFiles", input.logMaxFiles ?? 3, 1, 100) };
  const health = { intervalSeconds: 5, timeoutSeconds: 3, retries: 3, startPeriodSeconds: 30, ...input.health };
  return {
    project: matching("project", input.project ?? "codedetect", /^[a-z0-9][a-z0-9_-]*$/, "codedetect"),
    service: matching("service", input.service ?? "app", /^[a-z0-9][a-z0-9_.-]*$/, "app"),
    image,
    port: {
      bind: matching("bindAddress", input.bindAddress ?? "0.0.0.0", /^[0-9.]+$|^[0-9a-f:]+$/, "0.0.0.0"),
      host: whole("hostPort", input.hostPort ?? 5000, 1, 65535),
      container: whole("containerPort", input.containerPort ?? 5000, 1, 65535),
    },
    storage: { efsRoot, database: `${efsRoot}/codedetect/database`, uploads: `${efsRoot}/codedetect/uploads` },
    dataDir: "/data",
    drainSeconds,
    stopGraceSeconds,
    environment,
    logging,
    health: {
      intervalSeconds: whole("health.intervalSeconds", health.intervalSeconds, 1, 3600),
      timeoutSeconds: whole("health.timeoutSeconds", health.timeoutSeconds, 1, 3600),
      retries: whole("health.retries", health.retries, 1, 100),
      startPeriodSeconds: whole("health.startPeriodSeconds", health.startPeriodSeconds, 0, 3600),
    },
    restart: input.restart ?? "unless-stopped",
    user: "1000:1000",
    tmpfsSize: matching("tmpfsSize", input.tmpfsSize ?? "256m", /^\d+[kmg]$/, "256m"),
  };
}

/** How long a new container may take to turn healthy before it counts as failed, derived from its health check. */
export function healthDeadlineSeconds(model: StackModel): number {
  const h = model.health;
  return h.startPeriodSeconds + (h.retries + 1) * (h.intervalSeconds + h.timeoutSeconds) + 10;
}

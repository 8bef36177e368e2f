// The typed model of an instance's stack: what runs, from which image digest, with which storage, limits and logging.
import path from "node:path";
import { configError, schemaIssue } from "./errors.ts";
import { DIGEST, REPOSITORY, stackInputSchema, TAG } from "./stack-schema.ts";

export interface ImageRef {
  /** Registry and repository, e.g. "123.dkr.ecr.eu-west-1.amazonaws.com/codedetect" or "127.0.0.1:5000/codedetect". */
  repository: string;
  /** For humans only; null when the image was given by digest alone ("repository@sha256:…"). */
  tag: string | null;
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
  /** Compose's env_file for the service (root-only, holds DATABASE_URL); absent: none. Compose lets `environment` win over it: the model's own keys stay the model's. */
  envFile?: string;
  /** Host files bound read-only into the container; absent: none. */
  readOnlyFiles?: { source: string; target: string }[];
  /** The container's memory limit and each analyzer process's ceiling inside it (ANALYZER_MEMORY_MB); absent: no limit. */
  memory?: MemoryModel;
}

export interface MemoryModel {
  limitMb: number;
  analyzerMb: number;
  /** Set when the container is too small for one lane per processor: the lanes that fit (ANALYZER_WORKERS). */
  workers?: number;
}

/** What the server process itself needs beside its analyzers (Node, request bodies within their budget, SQLite's cache). */
export const SERVER_RESERVE_MB = 384;
/** The analyzer ceiling never goes above this by default (a 4 MB literal needs more than 1 GB of pylint: refused, 422). */
export const DEFAULT_ANALYZER_MB = 1024;
/** The server's own floor for ANALYZER_MEMORY_MB (a warm pylint needs about 200 MB of address space). */
export const MIN_ANALYZER_MB = 256;

export type { StackInput } from "./stack-schema.ts";

/** The server's own shutdown after the drain: in-flight requests get ANALYZER_TIMEOUT_SECONDS + 10 (30 s by default). */
export const IN_FLIGHT_GRACE_SECONDS = 30;
/** The container's data directory. */
const DATA_DIR = "/data";
/** Environment the model sets itself (from its own fields). */
export const MODEL_ENV_KEYS = ["DATA_DIR", "PORT", "HOST", "DRAIN_SECONDS", "REUSE_PORT", "HEALTH_SOCKET", "IMAGE_TAG", "IMAGE_DIGEST"] as const;

export function parseImageRef(text: string): ImageRef {
  const at = text.indexOf("@");
  const slash = text.lastIndexOf("/", at === -1 ? undefined : at);
  const colon = text.lastIndexOf(":", at === -1 ? undefined : at);
  const next = 'give the image as "repository[:tag]@sha256:<64 hex digits>" (e.g. from `docker push` output or `docker inspect --format \'{{index .RepoDigests 0}}\'`)';
  if (at === -1) throw configError("image", `"${text}" has no digest`, next);
  // A colon after the last slash starts a tag; one before it belongs to the registry's port ("127.0.0.1:5000/codedetect@sha256:…").
  const tagged = colon > slash;
  const ref = { repository: text.slice(0, tagged ? colon : at), tag: tagged ? text.slice(colon + 1, at) : null, digest: text.slice(at + 1) };
  if (!REPOSITORY.test(ref.repository)) throw configError("image", `"${ref.repository}" is not a valid repository name`, next);
  if (ref.tag !== null && !TAG.test(ref.tag)) throw configError("image", `"${ref.tag}" is not a valid tag`, next);
  if (!DIGEST.test(ref.digest)) throw configError("image", `"${ref.digest}" is not a sha256 digest`, next);
  return ref;
}

export function imageRefString(ref: ImageRef): string {
  return ref.tag === null ? `${ref.repository}@${ref.digest}` : `${ref.repository}:${ref.tag}@${ref.digest}`;
}

/** A short name for people: the tag, else the digest's first 12 hex digits. */
export function imageLabel(ref: ImageRef): string {
  return ref.tag ?? ref.digest.slice(0, 19);
}

/** Validates the stack file with its strict schema (unknown fields, wrong types refused), resolves defaults once; every later step trusts the model. */
export function defineStack(raw: unknown): StackModel {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw configError("stack", `must be a JSON object with at least image and efsRoot, got ${raw === null ? "null" : Array.isArray(raw) ? "an array" : typeof raw}`, "write the stack as {\"image\": \"repository[:tag]@sha256:…\", \"efsRoot\": \"/mnt/efs\"}");
  }
  const parsed = stackInputSchema.safeParse(raw);
  if (!parsed.success) {
    const { field, message } = schemaIssue(parsed.error);
    throw configError(field, message, `fix ${field} in the stack configuration (fields: ${Object.keys(stackInputSchema.shape).join(", ")})`);
  }
  const input = parsed.data;
  const image = parseImageRef(input.image);
  const efsRoot = path.posix.normalize(input.efsRoot).replace(/(.)\/$/, "$1");
  const drainSeconds = input.drainSeconds ?? 30;
  const stopGraceSeconds = input.stopGraceSeconds ?? drainSeconds + IN_FLIGHT_GRACE_SECONDS + 10;
  if (stopGraceSeconds <= drainSeconds) {
    throw configError("stopGraceSeconds", `${stopGraceSeconds} s is not longer than the drain period (${drainSeconds} s): Docker would kill the server mid-drain`, `set stopGraceSeconds above ${drainSeconds}, or leave it unset`);
  }
  if (stopGraceSeconds > 7200) throw configError("stopGraceSeconds", `${stopGraceSeconds} s is more than 7200 s`, "set stopGraceSeconds, or lower drainSeconds");
  const environment: Record<string, string> = {};
  for (const [key, value] of Object.entries(input.environment ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if ((MODEL_ENV_KEYS as readonly string[]).includes(key)) throw configError(`environment.${key}`, "is set by the stack model itself", `remove it; set the model's own field instead`);
    environment[key] = value;
  }
  const memory = input.memoryLimitMb === undefined ? undefined : memoryModel(input.memoryLimitMb, input.instanceCpus ?? 1, environment);
  if (memory) Object.assign(environment, memoryEnvironment(memory, environment));
  const logging: LoggingModel = input.logGroup
    ? { driver: "awslogs", group: input.logGroup, region: input.logRegion ?? null, stream: input.logStream ?? null }
    : { driver: "json-file", maxSize: input.logMaxSize ?? "10m", maxFiles: input.logMaxFiles ?? 3 };
  return {
    project: input.project ?? "codedetect",
    service: input.service ?? "app",
    image,
    port: { bind: input.bindAddress ?? "0.0.0.0", host: input.hostPort ?? 5000, container: input.containerPort ?? 5000 },
    storage: { efsRoot, database: `${efsRoot}/codedetect/database`, uploads: `${efsRoot}/codedetect/uploads` },
    dataDir: DATA_DIR,
    drainSeconds,
    stopGraceSeconds,
    environment,
    logging,
    health: {
      intervalSeconds: input.health?.intervalSeconds ?? 5,
      timeoutSeconds: input.health?.timeoutSeconds ?? 3,
      retries: input.health?.retries ?? 3,
      startPeriodSeconds: input.health?.startPeriodSeconds ?? 30,
    },
    restart: input.restart ?? "unless-stopped",
    user: "1000:1000",
    tmpfsSize: input.tmpfsSize ?? "256m",
    ...(input.envFile ? { envFile: input.envFile } : {}),
    ...(input.readOnlyFiles?.length ? { readOnlyFiles: readOnlyFiles(input.readOnlyFiles, DATA_DIR) } : {}),
    ...(memory ? { memory } : {}),
  };
}

/**
 * The analyzers' ceiling that fits the container: what is left after the server's own reserve, shared by the lanes
 * (one per processor, or ANALYZER_WORKERS), since in each lane one process (pylint) is the one that grows; at most
 * DEFAULT_ANALYZER_MB. An ANALYZER_MEMORY_MB the operator set is kept, if it fits. Beyond that the container's
 * limit is the backstop, and worker.py tells the kernel to pick an analyzer, never the server, when it is reached.
 */
function memoryModel(limitMb: number, cpus: number, environment: Record<string, string>): MemoryModel {
  const lanes = Number(environment.ANALYZER_WORKERS ?? cpus);
  if (!Number.isInteger(lanes) || lanes < 1) throw configError("environment.ANALYZER_WORKERS", `"${environment.ANALYZER_WORKERS}" is not a whole number >= 1`, "set it to the number of analyzer lanes, or leave it unset");
  const room = Math.floor((limitMb - SERVER_RESERVE_MB) / lanes);
  const fix = `raise memoryLimitMb (at least ${SERVER_RESERVE_MB + MIN_ANALYZER_MB * lanes} for ${lanes} lanes) or lower ANALYZER_WORKERS`;
  if (environment.ANALYZER_MEMORY_MB !== undefined) {
    const set = Number(environment.ANALYZER_MEMORY_MB);
    if (!Number.isInteger(set) || set > room) {
      throw configError("environment.ANALYZER_MEMORY_MB", `${environment.ANALYZER_MEMORY_MB} MB per analyzer does not fit ${lanes} lanes in ${limitMb} MB beside the server's ${SERVER_RESERVE_MB} MB`, fix);
    }
    return { limitMb, analyzerMb: set };
  }
  if (room >= MIN_ANALYZER_MB) return { limitMb, analyzerMb: Math.min(DEFAULT_ANALYZER_MB, room) };
  // a small instance (a t3.micro: 2 processors, 1 GiB): fewer lanes than processors, each with a ceiling that fits,
  // rather than no server at all; ANALYZER_WORKERS set by the operator is theirs (refused above when it does not fit)
  const fitting = Math.floor((limitMb - SERVER_RESERVE_MB) / MIN_ANALYZER_MB);
  if (environment.ANALYZER_WORKERS !== undefined || fitting < 1) {
    throw configError("memoryLimitMb", `${limitMb} MB leaves ${room} MB per analyzer lane, less than the ${MIN_ANALYZER_MB} MB a warm pylint needs`, fix);
  }
  return { limitMb, analyzerMb: Math.min(DEFAULT_ANALYZER_MB, Math.floor((limitMb - SERVER_RESERVE_MB) / fitting)), workers: fitting };
}

/** The server's variables for the ceiling: ANALYZER_MEMORY_MB, a recycle threshold below it when the default is not, the lanes when fewer fit. */
function memoryEnvironment(memory: MemoryModel, environment: Record<string, string>): Record<string, string> {
  const extra: Record<string, string> = { ANALYZER_MEMORY_MB: String(memory.analyzerMb), ...(memory.workers ? { ANALYZER_WORKERS: String(memory.workers) } : {}) };
  if (environment.ANALYZER_RECYCLE_MB === undefined && memory.analyzerMb <= 512) extra.ANALYZER_RECYCLE_MB = String(Math.floor(memory.analyzerMb / 2));
  return extra;
}

/** Read-only files may not land on the data directory or on each other: a bind there would hide the shared tree. */
function readOnlyFiles(files: { source: string; target: string }[], dataDir: string): { source: string; target: string }[] {
  const seen = new Set<string>();
  return files.map(({ source, target }, index) => {
    const normal = path.posix.normalize(target);
    if (normal === "/" || normal === dataDir || normal.startsWith(`${dataDir}/`)) throw configError(`readOnlyFiles.${index}.target`, `${target} is on the data directory ${dataDir}`, "bind the file elsewhere, e.g. under /etc");
    if (seen.has(normal)) throw configError(`readOnlyFiles.${index}.target`, `${target} is bound twice`, "give each file its own target");
    seen.add(normal);
    return { source: path.posix.normalize(source), target: normal };
  });
}

/** How long a new container may take to turn healthy before it counts as failed, derived from its health check. */
export function healthDeadlineSeconds(model: StackModel): number {
  const h = model.health;
  return h.startPeriodSeconds + (h.retries + 1) * (h.intervalSeconds + h.timeoutSeconds) + 10;
}

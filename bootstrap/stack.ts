// The instance's stack model, built from the agent's configuration: compose/'s StackModel for this state directory, image, port and shared tree.
import { createHash } from "node:crypto";
import os from "node:os";
import { z } from "zod";
import { readRecordFile } from "./record-file.ts";
import { defineStack, MIN_ANALYZER_MB, SERVER_RESERVE_MB, type StackModel } from "../compose/model.ts";
import type { Config } from "./config.ts";
import { CONTAINER_CA_FILE } from "./steps/database.ts";
import type { Identity } from "./step.ts";
import { stateFile } from "./state-files.ts";

/** One Compose project per state directory: the configured name, else "codedetect" on AWS and "codedetect-<hash>" locally. */
export function projectName(config: Config): string {
  if (config.project) return config.project;
  if (config.mode === "aws") return "codedetect";
  return `codedetect-${createHash("sha256").update(config.stateDir).digest("hex").slice(0, 10)}`;
}

/** What the local image step recorded: the build inputs' hash and the image as pinned by digest. */
export const LocalImageSchema = z.strictObject({ contextHash: z.string().regex(/^[a-f0-9]{64}$/), image: z.string().min(1), builtAt: z.iso.datetime() });
export type LocalImage = z.infer<typeof LocalImageSchema>;

export function readLocalImage(stateDir: string): LocalImage | null {
  return readRecordFile(stateFile(stateDir, "localImage"), LocalImageSchema, "remove it and re-run (the image is rebuilt)");
}

/** The image this instance runs: the configured one, else (local mode) the one built and pinned here. */
export function wantedImage(config: Config): string | null {
  return config.image ?? (config.mode === "local" ? (readLocalImage(config.stateDir)?.image ?? null) : null);
}

/** What the instance has: its memory and processors (observed by the start step; the model's memory limits follow). */
export interface HostResources {
  memoryMb: number;
  cpus: number;
}

/** Memory left to the host beside the container: the OS, Docker, the EFS client and this agent. */
export const HOST_RESERVE_MB = 512;

export function observeHostResources(): HostResources {
  return { memoryMb: Math.floor(os.totalmem() / (1 << 20)), cpus: os.availableParallelism() };
}

/**
 * The container's memory limit: the instance's memory but the host's reserve, and at least what the server and one
 * analyzer lane need (on a t3.micro, 1 GiB, the host keeps about 300 MB and the stack runs one lane).
 */
export function containerMemoryMb(host: HostResources): number {
  return Math.max(SERVER_RESERVE_MB + MIN_ANALYZER_MB, host.memoryMb - HOST_RESERVE_MB);
}

/** Pure: the stack model for this instance. The identity's values reach the server's /api/info; host: memory limits fit it. */
export function stackModel(config: Config, identity: Identity | null, image: string, host?: HostResources): StackModel {
  const environment: Record<string, string> = {};
  if (identity) {
    environment.INSTANCE_ID = identity.instanceId;
    environment.AVAILABILITY_ZONE = identity.zone;
    if (identity.region !== "local") environment.AWS_REGION = identity.region;
  }
  // the load balancer's addresses: the server takes each client from X-Forwarded-For, not the balancer's own address
  if (config.trustedProxies) environment.TRUSTED_PROXIES = config.trustedProxies;
  return defineStack({
    image,
    efsRoot: config.sharedDir,
    project: projectName(config),
    bindAddress: config.bindAddress,
    hostPort: config.port,
    drainSeconds: config.drainSeconds,
    environment,
    ...(host ? { memoryLimitMb: containerMemoryMb(host), instanceCpus: host.cpus } : {}),
    // RDS PostgreSQL: DATABASE_URL from the root-only env file (never in compose.yaml), the CA bundle bound read-only
    ...(config.databaseSecretArn ? { envFile: stateFile(config.stateDir, "databaseEnv"), readOnlyFiles: [{ source: stateFile(config.stateDir, "databaseCa"), target: CONTAINER_CA_FILE }] } : {}),
    ...(config.logGroup ? { logGroup: config.logGroup, logRegion: identity?.region ?? config.region ?? undefined, logStream: identity?.instanceId } : {}),
  });
}

/** The URL people and the health check use. */
export function localUrl(config: Config): string {
  const host = config.bindAddress === "0.0.0.0" || config.bindAddress === "::" ? "127.0.0.1" : config.bindAddress.includes(":") ? `[${config.bindAddress}]` : config.bindAddress;
  return `http://${host}:${config.port}`;
}

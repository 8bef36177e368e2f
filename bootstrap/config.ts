// The agent's configuration: one strict schema, resolved from defaults < config file < instance tags < environment < flags, each value's source kept.
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { IMAGE_REF } from "../compose/stack-schema.ts";
import { DEFAULT_SDK_TIMEOUTS, type SdkTimeouts } from "./adapters/sdk-client.ts";
import { parseTrustedProxies } from "../server/http/client-address.ts";
import { LAUNCH_HEARTBEAT_SECONDS } from "./user-data/values.ts";

/** An AWS region name: a partition-prefixed area, one to three words, a number ("eu-west-1", "us-gov-west-1", "eusc-de-east-1", "us-isob-east-1"). */
export const REGION = /^[a-z]{2,4}(-[a-z]{2,10}){1,3}-[1-9][0-9]?$/;
/**
 * A CloudFormation stack's name, or its unique ID: SignalResource's StackName pattern,
 * `([a-zA-Z][-a-zA-Z0-9]*)|(arn:\b(aws|aws-us-gov|aws-cn)\b:[-a-zA-Z0-9:/._+]*)` (the twin's, test/twin/cloudformation.ts),
 * with CreateStack's 128 characters for a name.
 */
const STACK_NAME_BODY = "[a-zA-Z][-a-zA-Z0-9]{0,127}";
/** A stack's name alone (what the template's AWS::StackName gives). */
export const STACK_NAME = new RegExp(`^${STACK_NAME_BODY}$`);
const STACK_NAME_OR_ID = new RegExp(`^(?:${STACK_NAME_BODY}|arn:\\b(?:aws|aws-us-gov|aws-cn)\\b:[-a-zA-Z0-9:/._+]*)$`);
const absoluteOrRelativePath = z.string().min(1, "must not be empty");
const nullableText = z.string().min(1).nullable();

export const ConfigSchema = z
  .object({
    /** "aws" on an EC2 instance, "local" on a laptop or a test machine (a directory stands in for EFS). */
    mode: z.enum(["aws", "local"]),
    /** This instance's own files: journal, identity, compose.yaml. */
    stateDir: absoluteOrRelativePath,
    /** Where the shared file system is mounted (EFS) or stands in (local). */
    sharedDir: absoluteOrRelativePath,
    /** The old single-instance layout (database/codedetect.db and uploads/) to migrate on first run; null: nothing to migrate. */
    migrateFrom: absoluteOrRelativePath.nullable(),
    port: z.number().int().min(1).max(65535),
    /** "repository[:tag]@sha256:…" (the tag optional, for humans); null in local mode means "build from the Dockerfile". */
    image: z.string().regex(IMAGE_REF, 'must be "repository[:tag]@sha256:<64 hex digits>" (pinned by digest)').nullable(),
    fileSystemId: z.string().regex(/^fs-[0-9a-f]{8,40}$/, 'must look like "fs-0123456789abcdef0"').nullable(),
    /** Overrides the region from instance metadata. */
    region: z.string().regex(REGION, 'must look like "eu-west-1"').nullable(),
    /** AWS API endpoint override (an emulator in tests); null: the real endpoints. */
    awsEndpoint: z.url().nullable(),
    imdsEndpoint: z.url(),
    fstab: absoluteOrRelativePath,
    mountTargetWaitSeconds: z.number().int().min(0).max(3600),
    migrateLockWaitSeconds: z.number().int().min(0).max(7200),
    migrateLeaseSeconds: z.number().int().min(5).max(3600),
    /** The owner of the shared tree: the container's user. */
    appUid: z.number().int().min(0).max(2 ** 31 - 1),
    /** The stack SignalResource signals: its name or its ID (AWS CloudFormation API Reference, SignalResource: StackName, "The stack name or unique stack ID"; a name is letters, digits and hyphens, starting with a letter, at most 128 characters, CreateStack). */
    stackName: z
      .string()
      .regex(STACK_NAME_OR_ID, 'must be a stack name (a letter, then letters, digits and hyphens, up to 128) or a stack ID ("arn:aws:cloudformation:<region>:<account>:stack/<name>/<id>")')
      .nullable(),
    /** The group's logical ID in the template (SignalResource: LogicalResourceId; the template's logical IDs are alphanumeric, at most 255). */
    logicalResourceId: z.string().regex(/^[A-Za-z0-9]{1,255}$/, 'must be a logical resource ID of the template (letters and digits, such as "AppGroup")').nullable(),
    targetGroupArn: nullableText,
    /** Registry credentials (user:password); redacted in every printout. */
    registryAuth: nullableText,
    /** This instance's Compose project; null: "codedetect" on AWS, "codedetect-<hash of the state directory>" locally (one project per state directory). */
    project: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must look like "codedetect" (lower-case letters, digits, - and _)').nullable(),
    /** The address the published port binds: 0.0.0.0 on AWS (the load balancer reaches it), 127.0.0.1 locally. */
    bindAddress: z.union([z.ipv4(), z.ipv6()]),
    /** Addresses the load balancer connects from (the VPC's or its subnets' CIDRs), passed to the server as TRUSTED_PROXIES: only from these is the client taken from X-Forwarded-For (the fair share); null: the peer is the client. */
    trustedProxies: z
      .string()
      .refine((value) => {
        try {
          parseTrustedProxies(value);
          return true;
        } catch {
          return false;
        }
      }, 'must be comma-separated CIDRs such as "10.0.0.0/16,10.1.0.0/16"')
      .nullable(),
    /** CloudWatch Logs group for the container's log (awslogs driver); null: json-file on the host. */
    logGroup: nullableText,
    /** Seconds the server keeps answering (health "draining") after SIGTERM before it closes. */
    drainSeconds: z.number().int().min(0).max(3600),
    /** How long verify waits for the local health check and the target group to report this target healthy. */
    verifyWaitSeconds: z.number().int().min(1).max(3600),
    /** The Auto Scaling group and its termination lifecycle hook, for SetInstanceHealth and CompleteLifecycleAction. */
    autoScalingGroup: nullableText,
    lifecycleHook: nullableText,
    /** The group's launching lifecycle hook: completed (CONTINUE) once the instance serves, ABANDON when a step fails; heartbeats while migrating or waiting for the lock. */
    launchHook: nullableText,
    /** Seconds between those heartbeats: under the hook's heartbeat timeout (a third of it by default). */
    launchHeartbeatSeconds: z.number().int().min(1).max(2400),
    /** Supervise: seconds between health polls, failed polls before a restart, restarts that fail before the instance is declared unhealthy. */
    superviseIntervalSeconds: z.number().int().min(1).max(3600),
    superviseFailuresBeforeRestart: z.number().int().min(1).max(100),
    superviseRestartsBeforeUnhealthy: z.number().int().min(1).max(100),
    /** RDS PostgreSQL (the template's DatabaseBackend=rds-postgresql): the Secrets Manager secret holding {username, password}; null: SQLite on the shared tree. */
    databaseSecretArn: z.string().regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@!-]{1,512}$/, 'must look like "arn:aws:secretsmanager:<region>:<account>:secret:<name>"').nullable(),
    /** host:port of the database. */
    databaseEndpoint: z.string().regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?:\d{1,5}$/i, 'must look like "db.example.com:5432"').nullable(),
    /** Where the agent downloads RDS's CA bundle from (AWS's trust store), over HTTPS verified by the system's store. */
    databaseCaUrl: z.url({ protocol: /^https?$/ }),
    /** The bundle's expected sha256 (64 hex digits): a bundle that differs is refused, never trusted. */
    databaseCaSha256: z.string().regex(/^[a-f0-9]{64}$/, "must be 64 lower-case hex digits (sha256sum of the bundle)").nullable(),
    /** Each AWS API attempt: the TCP connection, then the answer (adapters/sdk-client.ts); a black hole fails within them. */
    awsConnectTimeoutMs: z.number().int().min(10).max(60_000),
    awsRequestTimeoutMs: z.number().int().min(10).max(300_000),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigKey = keyof Config;
export type SourceName = "default" | "file" | "tag" | "env" | "flag";
export type ConfigLayer = Partial<Record<ConfigKey, unknown>>;

export const SECRET_KEYS: ReadonlySet<ConfigKey> = new Set(["registryAuth"]);
const NUMBER_KEYS: ReadonlySet<ConfigKey> = new Set([
  "port",
  "mountTargetWaitSeconds",
  "migrateLockWaitSeconds",
  "migrateLeaseSeconds",
  "appUid",
  "drainSeconds",
  "verifyWaitSeconds",
  "superviseIntervalSeconds",
  "superviseFailuresBeforeRestart",
  "superviseRestartsBeforeUnhealthy",
  "awsConnectTimeoutMs",
  "awsRequestTimeoutMs",
  "launchHeartbeatSeconds",
]);
/** Instance tags may override only these: what differs between groups of instances, never where the agent keeps its state. */
export const TAGGABLE_KEYS: readonly ConfigKey[] = ["image", "port", "fileSystemId", "migrateFrom", "targetGroupArn", "stackName", "logicalResourceId", "logGroup", "trustedProxies", "autoScalingGroup", "lifecycleHook", "launchHook", "databaseSecretArn", "databaseEndpoint", "databaseCaSha256"];
/** AWS's trust store for RDS: every region's CAs in one bundle. */
export const RDS_CA_BUNDLE_URL = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem";
export const TAG_PREFIX = "codedetect:";

export function defaults(local: boolean): Config {
  return {
    mode: local ? "local" : "aws",
    stateDir: local ? ".codedetect/state" : "/var/lib/codedetect",
    sharedDir: local ? ".codedetect/shared" : "/mnt/efs",
    migrateFrom: local ? null : "/opt/codedetect/data",
    port: 5000,
    image: null,
    fileSystemId: null,
    region: null,
    awsEndpoint: null,
    imdsEndpoint: "http://169.254.169.254",
    fstab: "/etc/fstab",
    mountTargetWaitSeconds: 300,
    migrateLockWaitSeconds: 900,
    migrateLeaseSeconds: 60,
    appUid: 1000,
    stackName: null,
    logicalResourceId: null,
    targetGroupArn: null,
    registryAuth: null,
    project: null,
    bindAddress: local ? "127.0.0.1" : "0.0.0.0",
    logGroup: null,
    trustedProxies: null,
    drainSeconds: local ? 0 : 30,
    verifyWaitSeconds: 300,
    autoScalingGroup: null,
    lifecycleHook: null,
    launchHook: null,
    launchHeartbeatSeconds: Math.floor(LAUNCH_HEARTBEAT_SECONDS / 3),
    superviseIntervalSeconds: 10,
    superviseFailuresBeforeRestart: 3,
    superviseRestartsBeforeUnhealthy: 2,
    databaseSecretArn: null,
    databaseEndpoint: null,
    databaseCaUrl: RDS_CA_BUNDLE_URL,
    databaseCaSha256: null,
    awsConnectTimeoutMs: DEFAULT_SDK_TIMEOUTS.connectionTimeoutMs,
    awsRequestTimeoutMs: DEFAULT_SDK_TIMEOUTS.requestTimeoutMs,
  };
}

/** The SDK clients' timeouts from the configuration. */
export function sdkTimeouts(config: Pick<Config, "awsConnectTimeoutMs" | "awsRequestTimeoutMs">): SdkTimeouts {
  return { connectionTimeoutMs: config.awsConnectTimeoutMs, requestTimeoutMs: config.awsRequestTimeoutMs };
}

/** CODEDETECT_STATE_DIR for stateDir, and so on. */
export function envName(key: ConfigKey): string {
  return `CODEDETECT_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export class ConfigProblem extends Error {
  override name = "ConfigProblem";
  readonly field: string;
  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.field = field;
  }
}

const SOURCE_LABEL: Record<SourceName, string> = { default: "default", file: "config file", tag: "instance tag", env: "environment", flag: "flag" };

/** Strings from tags, the environment and flags become numbers or null where the schema wants them. */
function coerce(key: ConfigKey, raw: string): unknown {
  if (NUMBER_KEYS.has(key)) return /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
  if (raw === "" && key !== "mode") return null;
  return raw;
}

export function fileLayer(file: string): ConfigLayer {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigProblem("--config", `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new ConfigProblem("--config", `${file} is not JSON: ${(error as Error).message}`);
  }
  const parsed = ConfigSchema.partial().safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = issue.code === "unrecognized_keys" ? issue.keys.join(", ") : issue.path.join(".") || "(top level)";
    throw new ConfigProblem(`${field} (config file ${file})`, issue.code === "unrecognized_keys" ? "is not a known setting" : issue.message);
  }
  return parsed.data as ConfigLayer;
}

export function envLayer(env: NodeJS.ProcessEnv): ConfigLayer {
  const layer: ConfigLayer = {};
  for (const key of Object.keys(defaults(false)) as ConfigKey[]) {
    const value = env[envName(key)];
    if (value !== undefined) layer[key] = coerce(key, value);
  }
  return layer;
}

/** Instance tags "codedetect:<setting>"; other tags are ignored, a codedetect: tag naming no taggable setting is refused. */
export function tagLayer(tags: Record<string, string>): ConfigLayer {
  const layer: ConfigLayer = {};
  for (const [name, value] of Object.entries(tags)) {
    if (!name.startsWith(TAG_PREFIX)) continue;
    const key = name.slice(TAG_PREFIX.length) as ConfigKey;
    if (!TAGGABLE_KEYS.includes(key)) throw new ConfigProblem(`tag ${name}`, `is not a setting tags may change (those are: ${TAGGABLE_KEYS.join(", ")})`);
    layer[key] = coerce(key, value);
  }
  return layer;
}

export function flagLayer(flags: Partial<Record<ConfigKey, string>>): ConfigLayer {
  const layer: ConfigLayer = {};
  for (const [key, value] of Object.entries(flags) as [ConfigKey, string | undefined][]) if (value !== undefined) layer[key] = coerce(key, value);
  return layer;
}

export interface Resolved {
  config: Config;
  sources: Record<ConfigKey, SourceName>;
}

export interface Layers {
  file?: ConfigLayer;
  tags?: ConfigLayer;
  env?: ConfigLayer;
  flags?: ConfigLayer;
}

/** Pure: merges the layers in rising precedence and validates the result once; a problem names the field and its source. */
export function resolveConfig(localFlag: boolean, layers: Layers): Resolved {
  // The mode picks the defaults, so it is settled first: --local, else the highest source that names one.
  const named = [layers.flags, layers.env, layers.tags, layers.file].find((layer) => layer?.mode !== undefined)?.mode;
  const local = localFlag || named === "local";
  const order: [SourceName, ConfigLayer][] = [
    ["default", defaults(local) as ConfigLayer],
    ["file", layers.file ?? {}],
    ["tag", layers.tags ?? {}],
    ["env", layers.env ?? {}],
    ["flag", layers.flags ?? {}],
  ];
  const merged: ConfigLayer = {};
  const sources = {} as Record<ConfigKey, SourceName>;
  for (const [source, layer] of order) {
    for (const [key, value] of Object.entries(layer) as [ConfigKey, unknown][]) {
      merged[key] = value;
      sources[key] = source;
    }
  }
  if (localFlag) {
    merged.mode = "local";
    sources.mode = "flag";
  }
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = issue.path[0] as ConfigKey | undefined;
    const where = key && sources[key] ? ` (from ${SOURCE_LABEL[sources[key]]}${sources[key] === "env" ? ` ${envName(key)}` : ""})` : "";
    throw new ConfigProblem(`${issue.path.join(".") || "(top level)"}${where}`, issue.message);
  }
  const config = parsed.data;
  if (config.mode === "aws" && config.fileSystemId === null) throw new ConfigProblem("fileSystemId", "is required outside --local (set it in the config file, a codedetect:fileSystemId tag or CODEDETECT_FILE_SYSTEM_ID)");
  const database = (["databaseSecretArn", "databaseEndpoint", "databaseCaSha256"] as const).filter((key) => config[key] !== null);
  if (database.length > 0 && database.length < 3) {
    const missing = (["databaseSecretArn", "databaseEndpoint", "databaseCaSha256"] as const).filter((key) => config[key] === null);
    throw new ConfigProblem(missing.join(", "), `required with ${database.join(", ")} (the PostgreSQL database needs its secret, its endpoint and its CA bundle's sha256)`);
  }
  const resolvedConfig = { ...config, stateDir: path.resolve(config.stateDir), sharedDir: path.resolve(config.sharedDir), migrateFrom: config.migrateFrom && path.resolve(config.migrateFrom) };
  const inside = (child: string, parent: string) => child === parent || child.startsWith(`${parent}${path.sep}`);
  if (resolvedConfig.migrateFrom && (inside(resolvedConfig.migrateFrom, resolvedConfig.sharedDir) || inside(resolvedConfig.sharedDir, resolvedConfig.migrateFrom))) {
    throw new ConfigProblem("migrateFrom", `${resolvedConfig.migrateFrom} overlaps the shared directory ${resolvedConfig.sharedDir}; give the old single-instance data directory`);
  }
  return { config: resolvedConfig, sources };
}

/** The resolved configuration as `status` prints it: each value with its source, secrets redacted. */
export function describeConfig(resolved: Resolved): { key: ConfigKey; value: unknown; source: SourceName }[] {
  return (Object.keys(resolved.config) as ConfigKey[]).map((key) => {
    const value = resolved.config[key];
    return { key, value: SECRET_KEYS.has(key) && value !== null ? "<redacted>" : value, source: resolved.sources[key] };
  });
}

export function formatConfig(resolved: Resolved): string {
  const rows = describeConfig(resolved);
  const width = Math.max(...rows.map((row) => row.key.length));
  return rows.map((row) => `  ${row.key.padEnd(width)}  ${JSON.stringify(row.value)}  (${SOURCE_LABEL[row.source]})`).join("\n");
}

// The zod schemas of the stack: what an operator may write in a stack file (strict), and the resolved model as state.json keeps it.
import { isIP } from "node:net";
import path from "node:path";
import { z } from "zod";

export const DIGEST = /^sha256:[a-f0-9]{64}$/;
export const REPOSITORY = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
export const TAG = /^\w[\w.-]{0,127}$/;
/** "repository[:tag]@sha256:<64 hex>": pinned by digest; the tag is optional, kept for humans (what `docker inspect --format '{{index .RepoDigests 0}}'` prints has none). */
export const IMAGE_REF = new RegExp(`^${REPOSITORY.source.slice(1, -1)}(?::${TAG.source.slice(1, -1)})?@${DIGEST.source.slice(1, -1)}$`);
export const PROJECT = /^[a-z0-9][a-z0-9_-]*$/;
const SERVICE = /^[a-z0-9][a-z0-9_.-]*$/;
const SIZE = /^\d+[kmg]$/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const RESTART_POLICIES = ["unless-stopped", "always", "on-failure", "no"] as const;

const whole = (min: number, max: number) => z.number().int(`must be a whole number from ${min} to ${max}`).min(min, `must be a whole number from ${min} to ${max}`).max(max, `must be a whole number from ${min} to ${max}`);
const matching = (pattern: RegExp, example: string) => z.string().regex(pattern, `is not valid; use a value like ${example}`);
export const ipAddress = z.string().refine((value) => isIP(value) !== 0, { message: "is not an IP address; use e.g. 0.0.0.0, 127.0.0.1 or ::" });
const absolute = z.string().refine((value) => path.posix.isAbsolute(value), { message: "is not an absolute path; give the host's EFS mount point, e.g. /mnt/efs" });

/** The stack file: every field but image and efsRoot has a default; anything else (a `hostport` typo) is refused. */
export const stackInputSchema = z.strictObject({
  /** "repository[:tag]@sha256:…": parsed by parseImageRef for a precise message. */
  image: z.string(),
  efsRoot: absolute,
  project: matching(PROJECT, "codedetect").optional(),
  service: matching(SERVICE, "app").optional(),
  bindAddress: ipAddress.optional(),
  hostPort: whole(1, 65535).optional(),
  containerPort: whole(1, 65535).optional(),
  drainSeconds: whole(0, 3600).optional(),
  stopGraceSeconds: whole(1, 7200).optional(),
  environment: z.record(matching(ENV_KEY, "LOG_LEVEL"), z.string()).optional(),
  logGroup: z.string().min(1).optional(),
  logRegion: z.string().min(1).optional(),
  logStream: z.string().min(1).optional(),
  logMaxSize: matching(SIZE, "10m").optional(),
  logMaxFiles: whole(1, 100).optional(),
  health: z
    .strictObject({
      intervalSeconds: whole(1, 3600).optional(),
      timeoutSeconds: whole(1, 3600).optional(),
      retries: whole(1, 100).optional(),
      startPeriodSeconds: whole(0, 3600).optional(),
    })
    .optional(),
  restart: z.enum(RESTART_POLICIES).optional(),
  tmpfsSize: matching(SIZE, "256m").optional(),
  /** A root-only file of KEY=VALUE lines Compose reads into the container's environment (DATABASE_URL: secrets never in compose.yaml). */
  envFile: absolute.optional(),
  /** Host files bound read-only into the container (the database's CA bundle). */
  readOnlyFiles: z.array(z.strictObject({ source: absolute, target: absolute })).max(8).optional(),
  /** The container's memory limit in MiB (Compose mem_limit, no swap beyond it); absent: none. */
  memoryLimitMb: whole(512, 4_194_304).optional(),
  /** Processors of the instance: the server runs one analyzer lane per processor, and each lane's ceiling must fit. */
  instanceCpus: whole(1, 1024).optional(),
});

export type StackInput = z.infer<typeof stackInputSchema>;

export const imageRefSchema = z.strictObject({ repository: z.string().regex(REPOSITORY), tag: z.string().regex(TAG).nullable(), digest: z.string().regex(DIGEST) });

/** The resolved model, as state.json records it (the rollback target): the same strictness as the stack file. */
export const stackModelSchema = z.strictObject({
  project: z.string().regex(PROJECT),
  service: z.string().regex(SERVICE),
  image: imageRefSchema,
  port: z.strictObject({ bind: ipAddress, host: whole(1, 65535), container: whole(1, 65535) }),
  storage: z.strictObject({ efsRoot: absolute, database: absolute, uploads: absolute }),
  dataDir: absolute,
  drainSeconds: whole(0, 3600),
  stopGraceSeconds: whole(1, 7200),
  environment: z.record(z.string().regex(ENV_KEY), z.string()),
  logging: z.discriminatedUnion("driver", [
    z.strictObject({ driver: z.literal("json-file"), maxSize: z.string().regex(SIZE), maxFiles: whole(1, 100) }),
    z.strictObject({ driver: z.literal("awslogs"), group: z.string().min(1), region: z.string().min(1).nullable(), stream: z.string().min(1).nullable() }),
  ]),
  health: z.strictObject({ intervalSeconds: whole(1, 3600), timeoutSeconds: whole(1, 3600), retries: whole(1, 100), startPeriodSeconds: whole(0, 3600) }),
  restart: z.enum(RESTART_POLICIES),
  user: z.string().regex(/^\d+:\d+$/),
  tmpfsSize: z.string().regex(SIZE),
  envFile: absolute.optional(),
  readOnlyFiles: z.array(z.strictObject({ source: absolute, target: absolute })).optional(),
  memory: z.strictObject({ limitMb: whole(512, 4_194_304), analyzerMb: whole(256, 65536) }).optional(),
});

// The agent's one executor: compose's executor for run/write/wait, plus the host actions (mkdir, remove, aws, migrate, stack up/down, pin, download, balancer).
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { describeAgentAction, type AgentAction, type HostAction } from "../compose/actions.ts";
import { ComposeError } from "../compose/errors.ts";
import { createExecutor, type Probe } from "../compose/executor.ts";
import { imageRefString } from "../compose/model.ts";
import { createRunner } from "../compose/runner.ts";
import { AwsCallError, type AwsAdapter } from "./adapters/aws.ts";
import { createBalancer } from "./adapters/balancer.ts";
import { pinImage } from "./adapters/pin.ts";
import { migrate } from "./migration/perform-migration.ts";
import { LocalImageSchema } from "./stack.ts";

export interface AgentExecutor {
  /** Performs one action; returns a note worth journaling ("migrated 3 files"), or null. Throws on failure. */
  perform(action: AgentAction, probe?: (name: string) => Probe | undefined): Promise<string | null>;
}

export interface AgentExecutorOptions {
  log?: (line: string) => void;
  aws?: () => Promise<AwsAdapter>;
  /** Registry credentials for pulls ("user:password" for the image's registry). */
  registryAuth?: string | null;
}

function registryAuth(image: string, auth: string | null | undefined) {
  if (!auth) return null;
  const colon = auth.indexOf(":");
  if (colon <= 0) throw new Error("registryAuth must be user:password");
  return { registry: image.split("/")[0]!, username: auth.slice(0, colon), password: auth.slice(colon + 1) };
}

/** How long a stack action waits for another up/down on this host (compose/'s host lock) before it fails. */
export const HOST_LOCK_WAIT_MS = 900_000;

/** compose/ refuses at once while another up/down holds the host's lock; instances side by side take turns instead. */
async function inTurn<T>(fn: () => Promise<T>, log: (line: string) => void, waitMs = HOST_LOCK_WAIT_MS): Promise<T> {
  const started = Date.now();
  let delay = 500;
  let said = false;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      const busy = error instanceof ComposeError && error.what.endsWith("another deploy is in progress");
      if (!busy || Date.now() - started + delay > waitMs) throw error;
      if (!said) log(`  waiting for another deploy on this host to finish (${(error as ComposeError).cause})`);
      said = true;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}

async function writeAtomically(file: string, content: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await fs.writeFile(temporary, content, { mode: 0o644 });
  await fs.rename(temporary, file);
}

/** The longest file a download action accepts (RDS's global bundle is about 160 KB). */
const DOWNLOAD_LIMIT_BYTES = 4 * 1024 * 1024;

/** Fetches, checks the pinned sha256 before anything is written, then writes beside the target and renames. */
async function download(action: Extract<HostAction, { kind: "download" }>): Promise<string> {
  const response = await fetch(action.url, { signal: AbortSignal.timeout(60_000) });
  if (!response.ok) throw new Error(`GET ${action.url} answered ${response.status} ${response.statusText}`);
  const chunks: Buffer[] = [];
  let size = 0;
  // read with a cap: a server that sends without end cannot fill the agent's memory
  for await (const chunk of response.body ?? []) {
    size += chunk.length;
    if (size > DOWNLOAD_LIMIT_BYTES) throw new Error(`GET ${action.url} gave more than ${DOWNLOAD_LIMIT_BYTES} bytes: not RDS's CA bundle`);
    chunks.push(Buffer.from(chunk));
  }
  const body = Buffer.concat(chunks);
  const actual = createHash("sha256").update(body).digest("hex");
  if (actual !== action.sha256) throw new Error(`${action.url} has sha256 ${actual}, not the pinned ${action.sha256}: nothing written (if AWS published a new bundle, check it and pin its sha256)`);
  const temporary = `${action.path}.${process.pid}.tmp`;
  await fs.mkdir(path.dirname(action.path), { recursive: true, mode: 0o755 });
  await fs.writeFile(temporary, body, { mode: action.mode });
  await fs.chmod(temporary, action.mode);
  await fs.rename(temporary, action.path);
  return `downloaded ${action.path} (sha256 ${actual})`;
}

/**
 * Runs `work` while repeating `heartbeat` (the launching hook's RecordLifecycleActionHeartbeat, which restarts its timeout:
 * https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RecordLifecycleActionHeartbeat.html). A failed heartbeat is logged,
 * not fatal: the migration's own outcome decides, and a hook that ran out abandons the instance whatever the agent does.
 */
async function withHeartbeat<T>(heartbeat: { call: string; input: unknown; everySeconds: number } | null, options: AgentExecutorOptions, work: () => Promise<T>): Promise<T> {
  if (!heartbeat || !options.aws) return work();
  let beating: Promise<void> = Promise.resolve();
  const beat = () => {
    beating = beating.then(async () => {
      try {
        await (await options.aws!()).perform(heartbeat.call, heartbeat.input);
        options.log?.(`  ${heartbeat.call}: the launching hook's timeout restarted`);
      } catch (error) {
        options.log?.(`  ${heartbeat.call} failed (${(error as Error).message}); the migration goes on`);
      }
    });
  };
  beat();
  const timer = setInterval(beat, heartbeat.everySeconds * 1000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    await beating;
  }
}

/** True when `error` is the refusal the action declared as "nothing to do". */
export function isNothingToDo(action: Extract<HostAction, { kind: "aws" }>, error: unknown): boolean {
  const expected = action.nothingToDo;
  return expected !== undefined && error instanceof AwsCallError && error.code === expected.code && new RegExp(expected.message).test(error.awsMessage);
}

/** One AWS call; a refusal declared as nothing to do is an outcome, journaled with AWS's own words; the outcome recorded when asked. */
async function performAws(action: Extract<HostAction, { kind: "aws" }>, options: AgentExecutorOptions): Promise<string | null> {
  if (!options.aws) throw new Error(`no AWS adapter to perform ${action.call}`);
  let note: string | null = null;
  try {
    await (await options.aws()).perform(action.call, action.input);
  } catch (error) {
    if (!isNothingToDo(action, error)) throw error;
    note = `${action.nothingToDo!.note} (${action.call} answered ${(error as AwsCallError).code}: ${(error as AwsCallError).awsMessage})`;
    options.log?.(`  ${note}`);
  }
  if (action.record) await writeAtomically(action.record.path, note === null ? action.record.accepted : action.record.nothingToDo);
  return note;
}

async function performHost(action: HostAction, options: AgentExecutorOptions): Promise<string | null> {
  switch (action.kind) {
    case "mkdir":
      await fs.mkdir(action.path, { recursive: true, mode: action.mode });
      await fs.chmod(action.path, action.mode);
      if (action.owner !== undefined) await fs.chown(action.path, action.owner, action.owner);
      return null;
    case "remove":
      await fs.rm(action.path, { recursive: true, force: true });
      return null;
    case "aws":
      return performAws(action, options);
    case "migrate":
      return withHeartbeat(action.heartbeat, options, () => migrate(action, options.log ?? (() => {})));
    case "stack-up": {
      const runner = createRunner({ stateDir: action.stateDir, auth: registryAuth(action.model.image.repository, options.registryAuth), log: options.log });
      const result = await withHeartbeat(action.heartbeat ?? null, options, () => inTurn(() => runner.up(action.model), options.log ?? (() => {})));
      return result.changed ? `up ${imageRefString(action.model.image)}` : `recorded ${imageRefString(action.model.image)}`;
    }
    case "stack-replace":
      await inTurn(() => createRunner({ stateDir: action.stateDir, log: options.log }).replace(action.model, action.reason), options.log ?? (() => {}));
      return `replaced ${action.model.project}/${action.model.service}`;
    case "stack-down":
      await inTurn(() => createRunner({ stateDir: action.stateDir, log: options.log }).down(action.project), options.log ?? (() => {}));
      return `stopped ${action.project}`;
    case "pin-image": {
      const image = await pinImage(action.image, action.repository);
      await writeAtomically(action.record, `${JSON.stringify(LocalImageSchema.parse({ contextHash: action.context, image, builtAt: new Date().toISOString() }))}\n`);
      return `built ${image}`;
    }
    case "download":
      return download(action);
    case "balancer": {
      if (!options.aws) throw new Error(`no AWS adapter to ${action.op} at ${action.balancer}`);
      const balancer = createBalancer(action.balancer, options.aws);
      await (action.op === "register" ? balancer.register(action.target) : balancer.deregister(action.target));
      return null;
    }
  }
}

export function createAgentExecutor(options: AgentExecutorOptions = {}): AgentExecutor {
  return {
    async perform(action, probe) {
      if (action.kind === "run" || action.kind === "write" || action.kind === "wait") {
        await createExecutor({ probe, log: options.log }).perform(action);
        return null;
      }
      options.log?.(describeAgentAction(action));
      return performHost(action, options);
    },
  };
}

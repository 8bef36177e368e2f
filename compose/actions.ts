// The shared vocabulary of side effects: a plan is a list of Actions, computed by pure functions and performed by an executor.
import { imageRefString, type StackModel } from "./model.ts";

/** How a failed run is retried: exponential backoff with jitter, bounded by attempts and an overall deadline. */
export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  /** Delay before the first retry; doubles on each further retry, randomised by a factor 1–2. */
  minDelayMs: number;
  maxDelayMs: number;
  /** No new attempt starts after this much time has passed since the first one. */
  deadlineMs: number;
  /** stderr patterns that mean retrying cannot help (e.g. "manifest unknown"). */
  permanent?: string[];
  /** The next thing to try after such a permanent error (else the action's `next`). */
  permanentNext?: string;
}

/**
 * What a command's failure means, recognised in its stderr: a cause and next step in the words of the system it
 * touched, instead of the command's last line alone. `pattern` is a case-insensitive regular expression (text, so a
 * plan stays data); `permanent`: retrying cannot help, so no further attempt is made.
 */
export interface Diagnosis {
  pattern: string;
  cause: string;
  next: string;
  permanent?: boolean;
}

/** The first diagnosis whose pattern the output matches, or null. */
export function diagnose(diagnoses: readonly Diagnosis[] | undefined, output: string): Diagnosis | null {
  return diagnoses?.find((diagnosis) => new RegExp(diagnosis.pattern, "i").test(output)) ?? null;
}

export type Action =
  | {
      kind: "run";
      argv: string[];
      env?: Record<string, string>;
      timeoutMs?: number;
      retry?: RetryPolicy;
      /** What this command is for, in a few words: used in plans and error messages. */
      purpose?: string;
      /** The next thing to try when it fails, for the error message. */
      next?: string;
      /** stderr patterns that mean the command's goal is already reached (a container already stopped or gone): success, not failure. */
      alreadyDone?: string[];
      /** Known failures, recognised in stderr: their cause and next step replace the generic ones. */
      diagnoses?: Diagnosis[];
    }
  | {
      kind: "write";
      path: string;
      content: string;
      mode: number;
      owner?: number;
      /** Content holds a secret: printed plans show its size, never its text. */
      sensitive?: boolean;
    }
  | {
      kind: "wait";
      /** A named probe the executor knows how to poll, e.g. "healthy:codedetect/app". */
      until: string;
      deadlineMs: number;
      next?: string;
    };

export type RunAction = Extract<Action, { kind: "run" }>;
export type WriteAction = Extract<Action, { kind: "write" }>;
export type WaitAction = Extract<Action, { kind: "wait" }>;

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** One line per action, the way `--dry-run` prints a plan. */
export function describeAction(action: Action): string {
  switch (action.kind) {
    case "run": {
      const env = Object.entries(action.env ?? {}).map(([key, value]) => `${key}=${quote(value)} `).join("");
      const notes = [action.purpose, action.retry ? `up to ${action.retry.attempts} attempts within ${action.retry.deadlineMs / 1000} s` : undefined]
        .filter(Boolean)
        .join("; ");
      return `run   ${env}${action.argv.map(quote).join(" ")}${notes ? `   # ${notes}` : ""}`;
    }
    case "write": {
      const what = action.sensitive ? `<${Buffer.byteLength(action.content)} bytes, redacted>` : `${Buffer.byteLength(action.content)} bytes`;
      const owner = action.owner === undefined ? "" : ` owner ${action.owner}`;
      return `write ${action.path} (mode ${action.mode.toString(8).padStart(4, "0")}${owner}, ${what})`;
    }
    case "wait":
      return `wait  ${action.until} (deadline ${action.deadlineMs / 1000} s)`;
  }
}

export function describePlan(actions: Action[]): string {
  return actions.length === 0 ? "(nothing to do)" : actions.map(describeAction).join("\n");
}

// Host actions: what the bootstrap agent (bootstrap/) does beyond running commands, writing files and waiting.
/** A load balancer's target: the instance (or local instance) and the port it serves on. */
export interface BalancerTarget {
  id: string;
  port: number;
}

export type HostAction =
  | {
      kind: "mkdir";
      path: string;
      mode: number;
      /** uid and gid; omitted: the agent's own. */
      owner?: number;
    }
  | { kind: "remove"; path: string; purpose: string }
  | {
      /** An AWS API call, e.g. call "cloudformation:SignalResource"; performed by the agent's AWS adapter. */
      kind: "aws";
      call: string;
      input: unknown;
      next?: string;
      /**
       * A refusal that means there is nothing to do, not a failure: AWS's error code and a pattern of its message (e.g. SignalResource's
       * "ValidationError … cannot be signaled" when the stack is not waiting for a signal). Matched, the call counts as done and
       * `note` is journaled; any other refusal stays an error.
       */
      nothingToDo?: { code: string; message: string; note: string };
      /** Where the outcome is recorded (written atomically after the call): `accepted` after a 2xx, `nothingToDo` after that refusal. */
      record?: { path: string; accepted: string; nothingToDo: string };
    }
  | {
      /** Copy the old single-instance data (database/codedetect.db, uploads/) onto the shared tree, once, under the shared lock. */
      kind: "migrate";
      source: string;
      /** The shared tree's root, e.g. /mnt/efs/codedetect. */
      target: string;
      owner: number;
      holder: string;
      leaseSeconds: number;
      lockWaitSeconds: number;
      /** An `aws` call repeated every `everySeconds` while the migration runs or waits for the lock (the launching hook's heartbeat); null: none. */
      heartbeat: { call: string; input: unknown; everySeconds: number } | null;
    }
  | {
      /** Bring the stack to this model through compose/'s runner: pull by digest, health-gated up, rollback on failure. */
      kind: "stack-up";
      stateDir: string;
      model: StackModel;
      purpose: string;
      /** The launching hook's heartbeat, repeated while the stack comes up (a pull and a health gate can outlast its timeout); absent: none. */
      heartbeat?: { call: string; input: unknown; everySeconds: number };
    }
  | { kind: "stack-down"; stateDir: string; project: string; purpose: string }
  | {
      /** The model in a new container through compose/'s runner, under its host lock: started beside the old one, gated on its health, then the old one hands over and stops (no gap). */
      kind: "stack-replace";
      stateDir: string;
      model: StackModel;
      reason: string;
    }
  | {
      /** Give a locally built image a registry digest, so that it is pinned like a pulled one; record the reference in `record`. */
      kind: "pin-image";
      image: string;
      repository: string;
      record: string;
      context: string;
    }
  | {
      /** Fetch a public file over HTTPS and keep it only if its sha256 is the pinned one (RDS's CA bundle). */
      kind: "download";
      url: string;
      sha256: string;
      path: string;
      mode: number;
    }
  | {
      /** Register or deregister a target with a load balancer named by `balancer` ("elbv2:<target group ARN>"; other adapters may follow). */
      kind: "balancer";
      op: "register" | "deregister";
      balancer: string;
      target: BalancerTarget;
    };

export type AgentAction = Action | HostAction;

/** One line per action, as `bootstrap --dry-run` prints a plan. */
export function describeAgentAction(action: AgentAction): string {
  switch (action.kind) {
    case "mkdir":
      return `mkdir ${action.path} (mode ${action.mode.toString(8).padStart(4, "0")}${action.owner === undefined ? "" : ` owner ${action.owner}`})`;
    case "remove":
      return `rm    ${action.path}   # ${action.purpose}`;
    case "aws":
      return `aws   ${action.call} ${JSON.stringify(action.input)}`;
    case "migrate":
      return `migrate ${action.source} -> ${action.target} (under the shared lock, as ${action.holder})`;
    case "stack-up":
      return `up    ${action.model.project} ${imageRefString(action.model.image)} on ${action.model.port.bind}:${action.model.port.host}   # ${action.purpose}`;
    case "stack-down":
      return `down  ${action.project}   # ${action.purpose}`;
    case "stack-replace":
      return `replace ${action.model.project}/${action.model.service} ${imageRefString(action.model.image)}: a new container beside the old one, gated on its health, then the old one hands over and stops   # ${action.reason}`;
    case "pin-image":
      return `pin   ${action.image} as ${action.repository}@<digest> -> ${action.record}`;
    case "download":
      return `get   ${action.url} -> ${action.path} (mode ${action.mode.toString(8).padStart(4, "0")}, only if sha256 ${action.sha256})`;
    case "balancer":
      return `lb    ${action.op} ${action.target.id}:${action.target.port} at ${action.balancer}`;
    default:
      return describeAction(action);
  }
}

export function describeAgentPlan(actions: AgentAction[]): string {
  return actions.length === 0 ? "(nothing to do)" : actions.map(describeAgentAction).join("\n");
}

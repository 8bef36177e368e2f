// The shared vocabulary of side effects: a plan is a list of Actions, computed by pure functions and performed by an executor.

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

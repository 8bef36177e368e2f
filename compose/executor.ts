// Performs Actions: runs argv with execa (retried with p-retry when the action says so), writes files atomically, polls named probes.
import fs from "node:fs/promises";
import path from "node:path";
import { execa } from "execa";
import pRetry, { AbortError } from "p-retry";
import { describeAction, diagnose, type Action, type Diagnosis, type RunAction, type WaitAction, type WriteAction } from "./actions.ts";
import { ComposeError, lastLine } from "./errors.ts";

export interface RunOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** Why it did not run or did not finish: "spawn docker ENOENT", "timed out after 30 s". */
  failure: string | null;
}

export type ProbeResult = { state: "done" } | { state: "pending"; detail: string } | { state: "failed"; detail: string; evidence?: string[] };
export type Probe = () => Promise<ProbeResult>;

export interface Executor {
  /** Runs one command to completion and returns its output; a non-zero exit is an outcome, not an exception. */
  run(argv: string[], options?: { env?: Record<string, string>; timeoutMs?: number }): Promise<RunOutcome>;
  /** Performs one action; throws a ComposeError that says what failed and what to try next. */
  perform(action: Action): Promise<RunOutcome | null>;
  performAll(actions: Action[]): Promise<void>;
}

export interface ExecutorOptions {
  /** Resolves a wait action's probe name to the function that polls it. */
  probe?: (name: string) => Probe | undefined;
  /** Progress lines (one per action, and per retry). */
  log?: (line: string) => void;
  /** Print each action instead of performing it. */
  dryRun?: boolean;
}

const DEFAULT_TIMEOUT_MS = 120_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function runCommand(argv: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunOutcome> {
  const [file, ...args] = argv;
  if (!file) throw new Error("empty argv");
  const result = await execa(file, args, { env: options.env, timeout: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, reject: false, stdin: "ignore" });
  let failure: string | null = null;
  if (result.timedOut) failure = `timed out after ${(options.timeoutMs ?? DEFAULT_TIMEOUT_MS) / 1000} s`;
  else if (result.exitCode === undefined) failure = result.code ? `${result.code} (${file})` : (result.shortMessage ?? "did not run");
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout ?? ""), stderr: String(result.stderr ?? ""), failure };
}

function reason(outcome: RunOutcome): string {
  return outcome.failure ?? (lastLine(outcome.stderr) || lastLine(outcome.stdout) || `exit code ${outcome.exitCode}`);
}

function what(action: RunAction): string {
  return action.purpose ?? action.argv.join(" ");
}

class AttemptFailed extends Error {
  readonly outcome: RunOutcome;
  constructor(outcome: RunOutcome) {
    super(reason(outcome));
    this.outcome = outcome;
  }
}

async function performRun(action: RunAction, log: (line: string) => void): Promise<RunOutcome> {
  const started = Date.now();
  const once = async () => {
    const outcome = await runCommand(action.argv, { env: action.env, timeoutMs: action.timeoutMs });
    const alreadyDone = outcome.failure === null && action.alreadyDone?.some((pattern) => outcome.stderr.includes(pattern)) === true;
    if ((outcome.failure !== null || outcome.exitCode !== 0) && !alreadyDone) throw new AttemptFailed(outcome);
    return outcome;
  };
  const retry = action.retry;
  let attempts = 0;
  let permanent = false;
  let diagnosis: Diagnosis | null = null;
  const output = (error: unknown) => (error instanceof AttemptFailed ? `${error.outcome.stderr}\n${error.message}` : String(error));
  try {
    if (!retry) {
      try {
        return await once();
      } catch (error) {
        diagnosis = diagnose(action.diagnoses, output(error));
        throw error;
      }
    }
    return await pRetry(
      async () => {
        attempts += 1;
        try {
          return await once();
        } catch (error) {
          const text = output(error);
          diagnosis = diagnose(action.diagnoses, text);
          if (retry.permanent?.some((pattern) => text.includes(pattern)) || diagnosis?.permanent) {
            permanent = true;
            throw new AbortError(error as Error);
          }
          throw error;
        }
      },
      {
        retries: retry.attempts - 1,
        factor: 2,
        minTimeout: retry.minDelayMs,
        maxTimeout: retry.maxDelayMs,
        randomize: true,
        maxRetryTime: retry.deadlineMs,
        onFailedAttempt: ({ error, attemptNumber, retriesLeft, retryDelay }) => {
          if (retriesLeft > 0 && retryDelay > 0) log(`  attempt ${attemptNumber} failed (${error.message}); retrying in ${(retryDelay / 1000).toFixed(1)} s`);
        },
      },
    );
  } catch (error) {
    const cause = error instanceof AttemptFailed ? error.message : (error as Error).message;
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const tried = retry ? ` (${attempts} attempt${attempts === 1 ? "" : "s"} over ${seconds} s)` : "";
    const found = diagnosis as Diagnosis | null; // assigned in the attempts' closures
    throw new ComposeError({
      what: `${what(action)} failed${tried}`,
      // the last attempt's diagnosis: its cause first, the command's own line kept as evidence
      cause: found ? `${found.cause} (${action.argv[0]} said: ${cause})` : cause,
      next: found?.next ?? (permanent ? retry?.permanentNext : undefined) ?? action.next ?? `check the command by hand (${action.argv.join(" ")}) and re-run; completed steps are not repeated`,
    });
  }
}

/** Atomic and durable: a temporary file in the same directory, fsynced, renamed over the target, the directory fsynced. */
async function performWrite(action: WriteAction): Promise<void> {
  const temporary = `${action.path}.${process.pid}.tmp`;
  try {
    await fs.mkdir(path.dirname(action.path), { recursive: true, mode: 0o755 });
    const handle = await fs.open(temporary, "w", action.mode);
    try {
      await handle.writeFile(action.content);
      await handle.chmod(action.mode);
      if (action.owner !== undefined) await handle.chown(action.owner, action.owner);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, action.path);
    const dir = await fs.open(path.dirname(action.path), "r");
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (error) {
    await fs.rm(temporary, { force: true }).catch(() => undefined);
    throw new ComposeError({ what: `write ${action.path}`, cause: (error as Error).message, next: "check that the directory is writable by this user and has space" });
  }
}

async function performWait(action: WaitAction, probe: Probe | undefined, log: (line: string) => void): Promise<void> {
  if (!probe) throw new ComposeError({ what: `wait ${action.until}`, cause: "no such probe", next: "this is a bug in the plan: report it" });
  const started = Date.now();
  let delay = 250;
  let last = "not probed yet";
  for (;;) {
    const result = await probe();
    if (result.state === "done") return;
    if (result.state === "failed") {
      throw new ComposeError({ what: `wait ${action.until}`, cause: result.detail, next: action.next ?? "look at the container's log (docker logs)", details: result.evidence });
    }
    if (result.detail !== last) log(`  ${action.until}: ${result.detail}`);
    last = result.detail;
    const left = action.deadlineMs - (Date.now() - started);
    if (left <= 0) {
      throw new ComposeError({
        what: `wait ${action.until}`,
        cause: `not reached within ${action.deadlineMs / 1000} s (last seen: ${last})`,
        next: action.next ?? "look at the container's log (docker logs)",
      });
    }
    await sleep(Math.min(delay, left));
    delay = Math.min(delay * 2, 2000);
  }
}

export function createExecutor(options: ExecutorOptions = {}): Executor {
  const log = options.log ?? (() => {});
  const perform = async (action: Action): Promise<RunOutcome | null> => {
    log(`${options.dryRun ? "would " : ""}${describeAction(action)}`);
    if (options.dryRun) return null;
    switch (action.kind) {
      case "run":
        return performRun(action, log);
      case "write":
        await performWrite(action);
        return null;
      case "wait":
        await performWait(action, options.probe?.(action.until), log);
        return null;
    }
  };
  return {
    run: runCommand,
    perform,
    async performAll(actions) {
      for (const action of actions) await perform(action);
    },
  };
}

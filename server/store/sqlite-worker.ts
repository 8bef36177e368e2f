// The database thread: owns the one SQLite connection; lock waits are timers here, so nothing waits on a lock in the server's event loop.
import { parentPort, workerData } from "node:worker_threads";
import type Database from "better-sqlite3";
import { lockedTooLong, retryDelayMs } from "./busy-retry.ts";
import { classify, CorruptFileError, MISSING_PROBLEM } from "./failures.ts";
import { identityAt, openFile, quickCheck, type FileIdentity } from "./sqlite-file.ts";
import { prepareOperations, WRITES, type Operations } from "./sqlite-operations.ts";
import { INITIAL_TREND_LENGTH, type FailureKind, type Message, type OpenedAnswer, type Request } from "./sqlite-protocol.ts";
import type { DatabaseCondition } from "./store.ts";

const file = (workerData as { file: string }).file;
const port = parentPort!;
const post = (message: Message) => port.postMessage(message);
/** Log lines may name the file (the log is the operator's); replies and conditions never do. */
const log = (level: "info" | "warn" | "error", msg: string, fields: Record<string, unknown> = {}) => post({ type: "log", level, msg, fields: { file, ...fields } });

type Job = Exclude<Request, { kind: "close" }> & { attempts: number; firstTry: number };

let current: { db: Database.Database; identity: FileIdentity; operations: Operations } | null = null;
let schema = { from: 0, to: 0 };
/** Faults of this host, each reported until what clears it: the file back, a passing quick_check, a successful write. */
let missingSince: number | null = null;
/** `identity`: the file found corrupt, so that only another file (a restore) or a re-check is tried before it is fixed. */
let corrupt: { problem: string; since: number; identity: FileIdentity | null } | null = null;
let broken: { problem: string; since: number } | null = null;
/** Since when operations have met a lock held elsewhere, without an operation getting through since. */
let contendedSince: number | null = null;
const waiting = new Map<number, NodeJS.Timeout>();
let closing = false;
let lastCondition = "";

/** Thrown instead of running an operation while the file is known corrupt: the known problem stands. */
class StillCorrupt extends Error {}

function condition(): DatabaseCondition {
  const at = (ms: number) => new Date(ms).toISOString();
  if (missingSince !== null) return { state: "broken", since: at(missingSince), problem: MISSING_PROBLEM };
  if (corrupt) return { state: "broken", since: at(corrupt.since), problem: corrupt.problem };
  if (broken) return { state: "broken", since: at(broken.since), problem: broken.problem };
  if (contendedSince !== null) return { state: "busy", since: at(contendedSince), waiting: waiting.size };
  return { state: "ok" };
}

function announceCondition(): void {
  const now = condition();
  const text = JSON.stringify(now);
  if (text !== lastCondition) post({ type: "condition", condition: now });
  lastCondition = text;
}

function closeCurrent(): void {
  try {
    current?.db.close();
  } catch {
    // a connection to a file that is gone may fail to close cleanly; it is dropped either way
  }
  current = null;
}

/**
 * The connection to the file now at the path. A file replaced (a backup renamed into place) is reopened; a removed one
 * is reported missing, and only the first open of a deployment may create it. Not recreating it while running is on
 * purpose: an empty database would silently reset the statistics every host shows, and take writes that the restore
 * the operator is about to make would then discard. While the file is known corrupt, only a re-check (the health
 * probe) may run, and it clears the state when the file passes quick_check again.
 */
function connection(create: boolean, recheck: boolean): Operations {
  if (current) {
    const identity = identityAt(file);
    if (identity !== current.identity) {
      log("warn", identity === null ? "database file removed while open: closed it, waiting for it to come back" : "database file replaced: reopening it", { was: current.identity, now: identity });
      closeCurrent();
    }
  }
  if (!current) {
    // the same corrupt file still there: fail at once rather than run quick_check over it for every request
    if (corrupt && !recheck && identityAt(file) === corrupt.identity) throw new StillCorrupt();
    const reopening = schema.to !== 0;
    const opened = openFile(file, create);
    current = { db: opened.db, identity: opened.identity, operations: prepareOperations(opened.db) };
    schema = opened.schema;
    if (corrupt || missingSince !== null) log("info", "database file usable again", { identity: opened.identity });
    corrupt = null;
    missingSince = null;
    if (opened.created) log("info", "no database file: created an empty one");
    else if (reopening) log("info", "database file reopened", { identity: opened.identity });
    if (opened.schema.from !== opened.schema.to) log("info", "database schema migrated", opened.schema);
  } else if (corrupt) {
    if (!recheck) throw new StillCorrupt();
    const problems = quickCheck(current.db);
    if (problems.length > 0) throw new CorruptFileError(problems);
    log("info", "database file passes quick_check again");
    corrupt = null;
  }
  return current.operations;
}

function safeIdentity(): FileIdentity | null {
  try {
    return identityAt(file);
  } catch {
    return null;
  }
}

function settle(job: Job, outcome: { ok: true; value: unknown } | { ok: false; failure: FailureKind; message: string }): void {
  const timer = waiting.get(job.id);
  if (timer) clearTimeout(timer);
  waiting.delete(job.id);
  announceCondition(); // before the reply: whoever sees the outcome sees the condition it left
  post({ type: "reply", id: job.id, ...outcome });
}

function what(job: Job): string {
  return job.kind === "open" ? "open" : job.operation;
}

function attempt(job: Job): void {
  waiting.delete(job.id);
  if (closing) return settle(job, { ok: false, failure: "closed", message: "database closed: the server is stopping" });
  job.attempts++;
  try {
    const operations = connection(job.kind === "open" && job.create, job.kind === "open" || job.operation === "probeWrite");
    let value: unknown;
    if (job.kind === "open") value = { schema, stats: operations.stats(INITIAL_TREND_LENGTH) } satisfies OpenedAnswer;
    else value = (operations[job.operation] as (...args: unknown[]) => unknown)(...job.args);
    const wrote = job.kind === "open" || WRITES.has(job.operation);
    if (wrote) broken = null;
    if (wrote || waiting.size === 0) contendedSince = null;
    settle(job, { ok: true, value });
  } catch (error) {
    fail(job, error);
  }
  announceCondition();
}

function fail(job: Job, error: unknown): void {
  if (error instanceof StillCorrupt && corrupt) return settle(job, { ok: false, failure: "corrupt", message: corrupt.problem });
  const failure = classify(error);
  const now = Date.now();
  switch (failure.kind) {
    case "busy":
    case "moved": {
      if (failure.kind === "busy") contendedSince ??= now;
      else closeCurrent(); // SQLITE_READONLY_DBMOVED: the open file is not the one at the path any more
      const delay = failure.kind === "busy" ? retryDelayMs(job.attempts) : 0;
      if (now + delay > job.deadline) {
        return settle(job, { ok: false, failure: "locked", message: lockedTooLong(what(job), job.attempts, now - job.firstTry, failure.detail) });
      }
      waiting.set(job.id, setTimeout(() => attempt(job), delay));
      return;
    }
    case "missing":
      closeCurrent();
      if (missingSince === null) log("error", "database file is missing: operations fail until it is restored", {});
      missingSince ??= now;
      return settle(job, { ok: false, failure: "missing", message: failure.problem });
    case "corrupt":
      missingSince = null; // a file is there again (a bad restore): reported as what it is, not as still missing
      if (!corrupt) log("error", "database file is corrupt: operations fail until it passes quick_check or is replaced", { err: (error as Error).message, code: (error as { code?: string }).code });
      corrupt = { problem: failure.problem, since: corrupt?.since ?? now, identity: current?.identity ?? safeIdentity() };
      return settle(job, { ok: false, failure: "corrupt", message: corrupt.problem });
    case "broken":
      missingSince = null; // only a file that exists gets this far (a missing one fails as "missing")
      if (!broken) log("error", "database storage failing", { err: (error as Error).message, code: (error as { code?: string }).code });
      broken = { problem: failure.problem, since: broken?.since ?? now };
      return settle(job, { ok: false, failure: "broken", message: failure.problem });
    case "failed":
      return settle(job, { ok: false, failure: "failed", message: `database ${what(job)} failed: ${failure.message}` });
  }
}

port.on("message", (request: Request) => {
  if (request.kind === "close") {
    closing = true;
    for (const timer of waiting.values()) clearTimeout(timer);
    waiting.clear();
    closeCurrent();
    post({ type: "reply", id: request.id, ok: true, value: null });
    port.close();
    return;
  }
  attempt({ ...request, attempts: 0, firstTry: Date.now() });
});

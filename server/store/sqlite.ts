// The SQLite store: rollback journal (never WAL: the file may live on NFS shared by hosts), run on its own thread.
//
// Why a thread and not busy_timeout 0 with retries on the event loop: better-sqlite3 is synchronous, so on the event
// loop every statement's I/O blocks it too, and on EFS one COMMIT is several NFS fsyncs (journal, database, journal
// removal) of milliseconds each; a start-up or restore quick_check reads the whole file. On the database thread
// (server/store/sqlite-worker.ts) none of that touches health or other requests. Lock waits are not blocking there
// either: busy_timeout is 0, and an operation that meets a lock is retried on a timer (jittered backoff, until its
// deadline) while other operations (reads that the lock allows) go ahead.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import type { OperationName, Message, OpenedAnswer, Request } from "./sqlite-protocol.ts";
import { INITIAL_TREND_LENGTH } from "./sqlite-protocol.ts";
import type { DatabaseCondition, Stats, Store } from "./store.ts";
import { StoreUnavailableError } from "./store.ts";

export interface StoreLogger {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

export interface SqliteStoreOptions {
  /** The database file, e.g. DATA_DIR/database/codedetect.db. */
  file: string;
  /** How long a write that meets a lock held elsewhere is retried before the caller gets StoreUnavailableError. */
  busyDeadlineMs: number;
  /** Where the database thread's findings go (they may name the file; HTTP answers never do). */
  logger?: StoreLogger;
}

/** Reads give up sooner than writes: a reader is a person waiting on a page, and a write may still be queued behind. */
const READ_DEADLINE_MS = 3000;
/** A statistics read blocked this long by a lock held elsewhere is answered with the last figures read, marked stale. */
const STALE_STATS_AFTER_MS = 250;
/** The same, when the database was already known to be locked as the request came in. */
const STALE_STATS_GRACE_MS = 20;

const extension = path.extname(fileURLToPath(import.meta.url)); // .ts from the sources, .js once built
const WORKER = new URL(`./sqlite-worker${extension}`, import.meta.url);

export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store & { schema: { from: number; to: number } }> {
  const { file, busyDeadlineMs, logger } = options;
  const readDeadlineMs = Math.min(busyDeadlineMs, READ_DEADLINE_MS);
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let condition: DatabaseCondition = { state: "ok" };
  let closed = false;
  const lastStats = new Map<number, { stats: Stats; at: string }>();

  const onMessage = (message: Message) => {
    if (message.type === "condition") condition = message.condition;
    else if (message.type === "log") logger?.[message.level](message.fields, message.msg);
    else {
      const waiter = pending.get(message.id);
      pending.delete(message.id);
      if (message.ok) waiter?.resolve(message.value);
      else waiter?.reject(new StoreUnavailableError(message.message));
    }
  };

  let worker!: Worker;
  /** Between a thread's unexpected end and its replacement: a message posted then would never be answered. */
  let restarting = false;
  const send = <T>(request: Request): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (closed && request.kind !== "close") return reject(new StoreUnavailableError("database closed: the server is stopping"));
      if (restarting) return reject(new StoreUnavailableError("database thread restarting"));
      pending.set(request.id, { resolve: resolve as (value: unknown) => void, reject });
      worker.postMessage(request);
    });
  const open = (create: boolean) => send<OpenedAnswer>({ id: nextId++, kind: "open", create, deadline: Date.now() + busyDeadlineMs });

  /** A database thread that died (it should not) fails what it held and is replaced; the file is never created anew. */
  const start = () => {
    // none of the process's flags: some are refused in a thread (--input-type of `node -e`, the test runner's own)
    worker = new Worker(WORKER, { workerData: { file }, execArgv: [] });
    worker.on("message", onMessage);
    worker.on("error", (error) => logger?.error({ err: error.message, file }, "database thread failed"));
    worker.on("exit", (code) => {
      const lost = [...pending.values()];
      pending.clear();
      for (const waiter of lost) waiter.reject(new StoreUnavailableError("database thread stopped"));
      if (closed) return;
      restarting = true;
      condition = { state: "broken", since: new Date().toISOString(), problem: "the database thread stopped unexpectedly; it is being restarted" };
      logger?.error({ code }, "database thread stopped: restarting it");
      setTimeout(() => {
        if (closed) return;
        start();
        restarting = false;
        open(false).then(
          (answer) => logger?.info({ schema: answer.schema }, "database thread restarted"),
          (error: Error) => logger?.error({ err: error.message }, "restarted database thread cannot open the database"),
        );
      }, 1000).unref();
    });
  };
  start();

  const call = <T>(operation: OperationName, args: unknown[], deadlineMs: number) =>
    send<T>({ id: nextId++, kind: "operation", operation, args, deadline: Date.now() + deadlineMs });

  let opened: OpenedAnswer;
  try {
    opened = await open(true);
  } catch (error) {
    closed = true;
    await worker.terminate();
    throw error;
  }
  lastStats.set(INITIAL_TREND_LENGTH, { stats: opened.stats, at: new Date().toISOString() });

  /**
   * Fresh figures when the database can be read; the last ones read, marked stale, while a lock held elsewhere blocks
   * it. One read per trend length at a time: a burst of requests during a lock shares it instead of queueing more.
   */
  const freshStats = new Map<number, Promise<Stats>>();
  const stats = (trendLength: number): Promise<Stats> => {
    let fresh = freshStats.get(trendLength);
    if (!fresh) {
      fresh = call<Stats>("stats", [trendLength], readDeadlineMs)
        .then((value) => {
          lastStats.set(trendLength, { stats: value, at: new Date().toISOString() });
          return value;
        })
        .finally(() => freshStats.delete(trendLength));
      freshStats.set(trendLength, fresh);
    }
    const last = lastStats.get(trendLength);
    if (!last) return fresh;
    const pending = fresh;
    const stale = (): Stats => ({
      ...last.stats,
      stale: { as_of: last.at, reason: `the database is locked by another process or host (since ${condition.state === "busy" ? condition.since : "now"}); these are the figures last read` },
    });
    return new Promise<Stats>((resolve, reject) => {
      let answered = false;
      // already known to be locked: a short grace for the read; otherwise a longer one before looking
      const timer = setTimeout(() => {
        if (condition.state !== "busy") return;
        answered = true;
        resolve(stale());
      }, condition.state === "busy" ? STALE_STATS_GRACE_MS : STALE_STATS_AFTER_MS);
      pending.then(
        (value) => {
          clearTimeout(timer);
          if (!answered) resolve(value);
        },
        (error: Error) => {
          clearTimeout(timer);
          // a shared read that gave up on the lock just before this request's grace ended: still the stale figures
          if (!answered) condition.state === "busy" ? resolve(stale()) : reject(error);
        },
      );
    });
  };

  return {
    schema: opened.schema,
    recordAnalysis: (row, resultJson) => call("recordAnalysis", [row, resultJson], busyDeadlineMs),
    recordRepeat: (fileHash, timestamp) => call("recordRepeat", [fileHash, timestamp], busyDeadlineMs),
    findResult: (fileHash) => call("findResult", [fileHash], readDeadlineMs),
    stats,
    addReport: (report) => call("addReport", [report], busyDeadlineMs),
    sweep: (cutoff) => call("sweep", [cutoff], busyDeadlineMs),
    liveResults: (fileHashes) => call("liveResults", [fileHashes], busyDeadlineMs),
    probeWrite: (host, timestamp) => call("probeWrite", [host, timestamp], busyDeadlineMs),
    condition: () => condition,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.race([send({ id: nextId++, kind: "close" }).catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      await worker.terminate();
    },
  };
}

/**
 * Online backup (SQLite's backup API, consistent while other processes write) of a database file to a temporary
 * name beside the destination, fsynced, then renamed: never a half-written backup.
 */
export async function backupSqlite(source: string, destination: string): Promise<{ pages: number }> {
  const target = path.resolve(destination);
  const db = new Database(source, { readonly: true, fileMustExist: true, timeout: 5000 });
  const partial = `${target}.partial-${process.pid}`;
  try {
    const { totalPages } = await db.backup(partial);
    const handle = fs.openSync(partial, "r");
    try {
      fs.fsyncSync(handle);
    } finally {
      fs.closeSync(handle);
    }
    fs.renameSync(partial, target);
    return { pages: totalPages };
  } catch (error) {
    fs.rmSync(partial, { force: true });
    throw error;
  } finally {
    db.close();
  }
}

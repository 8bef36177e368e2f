// The SQLite store: rollback journal (never WAL: the file may live on NFS shared by hosts), immediate transactions, busy retry.
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { withBusyRetry } from "./busy-retry.ts";
import { migrate } from "./migrations.ts";
import type { AnalysisRow, FeedbackReport, Stats, Store, StoredResult, SweepOutcome, TrendPoint } from "./store.ts";
import { StoreUnavailableError } from "./store.ts";

export interface SqliteStoreOptions {
  /** The database file, e.g. DATA_DIR/database/codedetect.db. */
  file: string;
  /** How long a locked database is retried before the caller gets StoreUnavailableError. */
  busyDeadlineMs: number;
  /** How long one attempt may block the event loop waiting for a lock (SQLite's busy_timeout). */
  busyTimeoutMs?: number;
}

interface TotalsRow {
  analyses: number;
  score_sum: number;
  security_issues: number;
  quality_issues: number;
}

type TrendRow = Omit<TrendPoint, "label">;

function open(file: string, busyTimeoutMs: number): Database.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file, { timeout: busyTimeoutMs });
  const mode = db.pragma("journal_mode = DELETE", { simple: true });
  if (mode !== "delete") {
    db.close();
    throw new StoreUnavailableError(`${file} stays in journal_mode=${String(mode)}; it must be DELETE on shared storage (close other writers and retry)`);
  }
  db.pragma("synchronous = FULL");
  db.pragma("temp_store = MEMORY");
  return db;
}

export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store & { schema: { from: number; to: number } }> {
  const { file, busyDeadlineMs } = options;
  let db: Database.Database;
  try {
    db = open(file, options.busyTimeoutMs ?? 100);
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(`cannot open database ${file}: ${(error as Error).message}`, { cause: error });
  }
  let schema: { from: number; to: number };
  try {
    schema = await withBusyRetry("migration", busyDeadlineMs, () => migrate(db));
  } catch (error) {
    db.close();
    throw error;
  }

  const insertAnalysis = db.prepare(`INSERT INTO analysis (file_hash, timestamp, score, total_issues, security_issues, complexity_issues)
    VALUES (@fileHash, @timestamp, @score, @totalIssues, @securityIssues, @complexityIssues)`);
  const upsertResult = db.prepare(`INSERT INTO results (file_hash, result_json, created_at, last_seen_at) VALUES (?, ?, ?, ?)
    ON CONFLICT(file_hash) DO UPDATE SET result_json = excluded.result_json, last_seen_at = excluded.last_seen_at`);
  const selectResult = db.prepare("SELECT result_json FROM results WHERE file_hash = ?").pluck();
  const touchResult = db.prepare("UPDATE results SET last_seen_at = ? WHERE file_hash = ?");
  const selectTotals = db.prepare("SELECT analyses, score_sum, security_issues, quality_issues FROM totals WHERE id = 1");
  const selectTrend = db.prepare(`SELECT timestamp, score, total_issues, security_issues, complexity_issues
    FROM analysis ORDER BY id DESC LIMIT ?`);
  const insertReport = db.prepare("INSERT INTO reports (email, type, message, created_at) VALUES (?, ?, ?, ?)");
  const expiredHashes = db.prepare("SELECT file_hash FROM results WHERE last_seen_at < ?").pluck();
  const deleteResults = db.prepare("DELETE FROM results WHERE last_seen_at < ?");
  const deleteReports = db.prepare("DELETE FROM reports WHERE created_at < ?");
  const deleteHeartbeats = db.prepare("DELETE FROM heartbeat WHERE seen_at < ?");
  const upsertHeartbeat = db.prepare(`INSERT INTO heartbeat (host, seen_at) VALUES (?, ?)
    ON CONFLICT(host) DO UPDATE SET seen_at = excluded.seen_at`);

  const recordAnalysis = db.transaction((row: AnalysisRow, resultJson: string) => {
    insertAnalysis.run(row);
    upsertResult.run(row.fileHash, resultJson, row.timestamp, row.timestamp);
  });
  const recordRepeat = db.transaction((fileHash: string, timestamp: string): StoredResult | null => {
    const resultJson = selectResult.get(fileHash) as string | undefined;
    if (resultJson === undefined) return null;
    const result = JSON.parse(resultJson) as { score: number; summary: { total_issues: number; security_issues: number; high_complexity_functions: number } };
    insertAnalysis.run({
      fileHash,
      timestamp,
      score: result.score,
      totalIssues: result.summary.total_issues,
      securityIssues: result.summary.security_issues,
      complexityIssues: result.summary.high_complexity_functions,
    });
    touchResult.run(timestamp, fileHash);
    return { fileHash, resultJson };
  });
  const readStats = db.transaction((trendLength: number): Stats => {
    const totals = selectTotals.get() as TotalsRow;
    const rows = (selectTrend.all(trendLength) as TrendRow[]).reverse();
    return {
      total_analyses: totals.analyses,
      avg_score: totals.analyses === 0 ? 0 : Math.round((totals.score_sum / totals.analyses) * 10) / 10,
      total_security_issues: totals.security_issues,
      total_quality_issues: totals.quality_issues,
      trend_data: rows.map((row, index) => ({ label: `Analysis #${index + 1}`, ...row })),
    };
  });
  const sweep = db.transaction((cutoff: string): SweepOutcome => {
    const fileHashes = expiredHashes.all(cutoff) as string[];
    const results = deleteResults.run(cutoff).changes;
    const reports = deleteReports.run(cutoff).changes;
    deleteHeartbeats.run(cutoff); // hosts (containers) gone since the cutoff
    return { results, reports, fileHashes };
  });

  return {
    schema,
    recordAnalysis: (row, resultJson) => withBusyRetry("write", busyDeadlineMs, () => recordAnalysis.immediate(row, resultJson)),
    recordRepeat: (fileHash, timestamp) => withBusyRetry("write", busyDeadlineMs, () => recordRepeat.immediate(fileHash, timestamp)),
    findResult: (fileHash) =>
      withBusyRetry("read", busyDeadlineMs, () => {
        const resultJson = selectResult.get(fileHash) as string | undefined;
        return resultJson === undefined ? null : { fileHash, resultJson };
      }),
    stats: (trendLength) => withBusyRetry("read", busyDeadlineMs, () => readStats.deferred(trendLength)),
    addReport: (report: FeedbackReport) =>
      withBusyRetry("write", busyDeadlineMs, () => {
        insertReport.run(report.email, report.type, report.message, report.createdAt);
      }),
    sweep: (cutoff) => withBusyRetry("sweep", busyDeadlineMs, () => sweep.immediate(cutoff)),
    probeWrite: (host, timestamp) =>
      withBusyRetry("write probe", busyDeadlineMs, () => {
        upsertHeartbeat.run(host, timestamp);
      }),
    close: () => db.close(),
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

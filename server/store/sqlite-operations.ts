// The store's operations as prepared SQLite statements in short transactions, run one at a time on the database thread.
import type Database from "better-sqlite3";
import type { AnalysisRow, FeedbackReport, Stats, StoredResult, SweepOutcome, TrendPoint } from "./store.ts";

/**
 * How long a COMMIT may wait, inside the database thread, for other processes' readers to finish. Our transaction then
 * holds SQLite's PENDING lock, which keeps new readers out, so the wait is short and the writer is not starved; past it
 * the transaction is rolled back and retried later like any other lock contention.
 */
const COMMIT_PATIENCE_MS = 500;

interface TotalsRow {
  analyses: number;
  score_sum: number;
  security_issues: number;
  quality_issues: number;
}

type TrendRow = Omit<TrendPoint, "label">;

export interface Operations {
  recordAnalysis(row: AnalysisRow, resultJson: string): void;
  recordRepeat(fileHash: string, timestamp: string): StoredResult | null;
  findResult(fileHash: string): StoredResult | null;
  stats(trendLength: number): Stats;
  addReport(report: FeedbackReport): void;
  sweep(cutoff: string): SweepOutcome;
  liveResults(fileHashes: string[]): string[];
  probeWrite(host: string, timestamp: string): void;
}

/** Operations that take the write lock: their success proves the database takes writes now. */
export const WRITES: ReadonlySet<keyof Operations> = new Set(["recordAnalysis", "recordRepeat", "addReport", "sweep", "probeWrite"]);

/** BEGIN IMMEDIATE … COMMIT; on any failure (SQLITE_BUSY included) rolled back, so nothing is half-written. */
function inWriteTransaction<T>(db: Database.Database, body: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = body();
    db.pragma(`busy_timeout = ${COMMIT_PATIENCE_MS}`);
    try {
      db.exec("COMMIT");
    } finally {
      db.pragma("busy_timeout = 0");
    }
    return result;
  } catch (error) {
    if (db.inTransaction) {
      try {
        db.exec("ROLLBACK");
      } catch {
        // SQLite rolls back itself when the connection's next transaction starts or it closes; the first error is the one to report
      }
    }
    throw error;
  }
}

export function prepareOperations(db: Database.Database): Operations {
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
  const selectLive = db.prepare("SELECT file_hash FROM results WHERE file_hash IN (SELECT value FROM json_each(?))").pluck();
  const upsertHeartbeat = db.prepare(`INSERT INTO heartbeat (host, seen_at) VALUES (?, ?)
    ON CONFLICT(host) DO UPDATE SET seen_at = excluded.seen_at`);
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

  return {
    recordAnalysis: (row, resultJson) =>
      inWriteTransaction(db, () => {
        insertAnalysis.run(row);
        upsertResult.run(row.fileHash, resultJson, row.timestamp, row.timestamp);
      }),
    recordRepeat: (fileHash, timestamp) =>
      inWriteTransaction(db, () => {
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
      }),
    findResult: (fileHash) => {
      const resultJson = selectResult.get(fileHash) as string | undefined;
      return resultJson === undefined ? null : { fileHash, resultJson };
    },
    stats: (trendLength) => readStats.deferred(trendLength),
    addReport: (report) =>
      inWriteTransaction(db, () => {
        insertReport.run(report.email, report.type, report.message, report.createdAt);
      }),
    sweep: (cutoff) =>
      inWriteTransaction(db, () => {
        const fileHashes = expiredHashes.all(cutoff) as string[];
        const results = deleteResults.run(cutoff).changes;
        const reports = deleteReports.run(cutoff).changes;
        deleteHeartbeats.run(cutoff); // hosts (containers) gone since the cutoff
        return { results, reports, fileHashes };
      }),
    liveResults: (fileHashes) => (fileHashes.length === 0 ? [] : (selectLive.all(JSON.stringify(fileHashes)) as string[])),
    probeWrite: (host, timestamp) =>
      inWriteTransaction(db, () => {
        upsertHeartbeat.run(host, timestamp);
      }),
  };
}

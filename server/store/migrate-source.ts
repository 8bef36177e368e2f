// The SQLite side of migrate-db: an online backup of the live database (the fleet keeps serving), read in id order, with its figures to verify against.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import Database from "better-sqlite3";
import { migrate, SCHEMA_VERSION } from "./migrations.ts";
import { backupSqlite } from "./sqlite.ts";

export interface Figures {
  analyses: number;
  scoreSum: number;
  securitySum: number;
  qualitySum: number;
  complexitySum: number;
  /** The totals row the statistics are read from (kept by triggers): must agree with the sums. */
  totals: { analyses: number; scoreSum: number; securitySum: number; qualitySum: number };
  results: number;
  reports: number;
}

export interface AnalysisSourceRow {
  id: number;
  file_hash: string | null;
  timestamp: string;
  score: number;
  total_issues: number;
  security_issues: number;
  complexity_issues: number;
}
export interface ResultSourceRow {
  file_hash: string;
  result_json: string;
  created_at: string;
  last_seen_at: string;
}
export interface ReportSourceRow {
  id: number;
  email: string;
  type: string;
  message: string;
  created_at: string;
}

export interface Snapshot {
  /** The schema version the source was at when its copy had to be brought up to date first; null: it was current. */
  upgradedFrom: number | null;
  /** Rows with id above `after`, at most `limit`, in id order. */
  analyses(after: number, limit: number): AnalysisSourceRow[];
  results(afterHash: string, limit: number): ResultSourceRow[];
  reports(after: number, limit: number): ReportSourceRow[];
  /** Figures of the analyses with id above `after` (0: all), and of all results and reports. */
  figures(after?: number): Figures;
  maxIds(): { analysis: number; reports: number };
  close(): void;
}

export class SourceError extends Error {
  override name = "SourceError";
}

/** Takes the online backup into a private temp dir, brings the copy's schema up to date, and reads it; close() removes it. */
export async function snapshotSqlite(file: string): Promise<Snapshot> {
  if (!fs.existsSync(file)) throw new SourceError(`no SQLite database at ${file} (is --from the server's DATA_DIR?)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "codedetect-migrate-"));
  const copy = path.join(dir, "snapshot.db");
  let db: Database.Database;
  try {
    await backupSqlite(file, copy);
    db = new Database(copy, { fileMustExist: true });
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new SourceError(`cannot take an online backup of ${file}: ${(error as Error).message}`);
  }
  const from = db.pragma("user_version", { simple: true }) as number;
  const refuse = (message: string): never => {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
    throw new SourceError(message);
  };
  if (from > SCHEMA_VERSION) refuse(`${file} is at schema version ${from}, newer than this tool's ${SCHEMA_VERSION}: run migrate-db from the version of CodeDetect that wrote it`);
  // The copy is private: an older schema (the old single-instance application's is version 0) is brought up to date on it
  // with the server's own migrations, so an old database goes straight to PostgreSQL; the live file is never written.
  if (from < SCHEMA_VERSION) {
    try {
      migrate(db);
    } catch (error) {
      refuse(`${file} is at schema version ${from} and its copy could not be brought to version ${SCHEMA_VERSION}: ${(error as Error).message}`);
    }
  }
  const selectAnalyses = db.prepare("SELECT id, file_hash, timestamp, score, total_issues, security_issues, complexity_issues FROM analysis WHERE id > ? ORDER BY id LIMIT ?");
  const selectResults = db.prepare("SELECT file_hash, result_json, created_at, last_seen_at FROM results WHERE file_hash > ? ORDER BY file_hash LIMIT ?");
  const selectReports = db.prepare("SELECT id, email, type, message, created_at FROM reports WHERE id > ? ORDER BY id LIMIT ?");
  return {
    upgradedFrom: from === SCHEMA_VERSION ? null : from,
    analyses: (after, limit) => selectAnalyses.all(after, limit) as AnalysisSourceRow[],
    results: (afterHash, limit) => selectResults.all(afterHash, limit) as ResultSourceRow[],
    reports: (after, limit) => selectReports.all(after, limit) as ReportSourceRow[],
    figures(after = 0) {
      const sums = db.prepare(`SELECT COUNT(*) AS analyses, COALESCE(SUM(score), 0) AS scoreSum, COALESCE(SUM(security_issues), 0) AS securitySum,
        COALESCE(SUM(total_issues), 0) AS qualitySum, COALESCE(SUM(complexity_issues), 0) AS complexitySum FROM analysis WHERE id > ?`).get(after) as Omit<Figures, "totals" | "results" | "reports">;
      const totals = db.prepare("SELECT analyses, score_sum AS scoreSum, security_issues AS securitySum, quality_issues AS qualitySum FROM totals WHERE id = 1").get() as Figures["totals"];
      const results = db.prepare("SELECT COUNT(*) FROM results").pluck().get() as number;
      const reports = db.prepare("SELECT COUNT(*) FROM reports").pluck().get() as number;
      return { ...sums, totals, results, reports };
    },
    maxIds: () => ({
      analysis: (db.prepare("SELECT COALESCE(MAX(id), 0) FROM analysis").pluck().get() as number),
      reports: (db.prepare("SELECT COALESCE(MAX(id), 0) FROM reports").pluck().get() as number),
    }),
    close() {
      db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

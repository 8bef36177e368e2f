// Versioned schema migrations for the SQLite store, applied once under an exclusive lock (safe when hosts start at once).
import type Database from "better-sqlite3";

type Db = Database.Database;

interface Column {
  name: string;
}

function columnNames(db: Db, table: string): string[] {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as Column[]).map((column) => column.name);
}

const STAT_COLUMNS: Record<string, string> = {
  file_hash: "TEXT",
  timestamp: "TEXT NOT NULL DEFAULT ''",
  score: "INTEGER NOT NULL DEFAULT 0",
  total_issues: "INTEGER NOT NULL DEFAULT 0",
  security_issues: "INTEGER NOT NULL DEFAULT 0",
  complexity_issues: "INTEGER NOT NULL DEFAULT 0",
};

/** Columns of the old application's table that hold code or names: moved out (result_json) or dropped. */
const PRIVATE_LEGACY_COLUMNS = ["result_json", "filename", "original_code"];

/** v1: the statistics table (adopting the old application's, if present), results, totals, reports, heartbeats. */
function v1(db: Db): void {
  const legacy = columnNames(db, "analysis");
  if (legacy.length === 0) {
    db.exec(`CREATE TABLE analysis (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      ${Object.entries(STAT_COLUMNS).map(([name, type]) => `${name} ${type}`).join(",\n      ")}
    )`);
  } else {
    for (const [name, type] of Object.entries(STAT_COLUMNS)) {
      if (!legacy.includes(name)) db.exec(`ALTER TABLE analysis ADD COLUMN ${name} ${type}`);
    }
  }
  db.exec(`
    CREATE INDEX IF NOT EXISTS idx_analysis_timestamp ON analysis(timestamp);
    CREATE TABLE results (
      file_hash TEXT PRIMARY KEY,
      result_json TEXT NOT NULL,
      created_at TEXT NOT NULL,
      last_seen_at TEXT NOT NULL
    );
    CREATE INDEX idx_results_last_seen ON results(last_seen_at);
    CREATE TABLE totals (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      analyses INTEGER NOT NULL,
      score_sum INTEGER NOT NULL,
      security_issues INTEGER NOT NULL,
      quality_issues INTEGER NOT NULL
    );
    CREATE TABLE reports (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      email TEXT NOT NULL,
      type TEXT NOT NULL,
      message TEXT NOT NULL,
      created_at TEXT NOT NULL
    );
    CREATE INDEX idx_reports_created ON reports(created_at);
    CREATE TABLE heartbeat (host TEXT PRIMARY KEY, seen_at TEXT NOT NULL);
  `);
  if (legacy.includes("result_json")) {
    db.exec(`INSERT OR REPLACE INTO results (file_hash, result_json, created_at, last_seen_at)
      SELECT file_hash, result_json, timestamp, timestamp FROM analysis
      WHERE file_hash IS NOT NULL AND result_json IS NOT NULL ORDER BY id`);
  }
  for (const name of PRIVATE_LEGACY_COLUMNS) {
    if (legacy.includes(name)) db.exec(`ALTER TABLE analysis DROP COLUMN ${name}`);
  }
  db.exec(`
    INSERT INTO totals (id, analyses, score_sum, security_issues, quality_issues)
      SELECT 1, COUNT(*), COALESCE(SUM(score), 0), COALESCE(SUM(security_issues), 0), COALESCE(SUM(total_issues), 0) FROM analysis;
    CREATE TRIGGER analysis_totals_insert AFTER INSERT ON analysis BEGIN
      UPDATE totals SET analyses = analyses + 1, score_sum = score_sum + NEW.score,
        security_issues = security_issues + NEW.security_issues, quality_issues = quality_issues + NEW.total_issues
      WHERE id = 1;
    END;
    CREATE TRIGGER analysis_totals_delete AFTER DELETE ON analysis BEGIN
      UPDATE totals SET analyses = analyses - 1, score_sum = score_sum - OLD.score,
        security_issues = security_issues - OLD.security_issues, quality_issues = quality_issues - OLD.total_issues
      WHERE id = 1;
    END;
  `);
}

/**
 * v2: stored results no longer carry the file's code (it is in uploads/<sha256>.py, and escaped in JSON it could take
 * six times the file's size in the row): removed from the rows that have it. Pages freed are reused by later rows.
 */
function v2(db: Db): void {
  db.exec(`UPDATE results SET result_json = json_remove(result_json, '$.original_code')
    WHERE json_valid(result_json) AND json_type(result_json, '$.original_code') IS NOT NULL`);
}

/** Index i holds the migration that brings user_version from i to i + 1. */
export const MIGRATIONS: ReadonlyArray<(db: Db) => void> = [v1, v2];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database to SCHEMA_VERSION. Runs inside BEGIN EXCLUSIVE and re-reads the version there,
 * so a second host starting at the same moment waits, then finds nothing to do.
 */
export function migrate(db: Db): { from: number; to: number } {
  const run = db.transaction(() => {
    const from = db.pragma("user_version", { simple: true }) as number;
    if (from > SCHEMA_VERSION) {
      throw new Error(`database schema version ${from} is newer than this server's ${SCHEMA_VERSION}; upgrade the server`);
    }
    for (let version = from; version < SCHEMA_VERSION; version++) MIGRATIONS[version]!(db);
    if (from !== SCHEMA_VERSION) db.pragma(`user_version = ${SCHEMA_VERSION}`);
    return { from, to: SCHEMA_VERSION };
  });
  return run.exclusive();
}

// The storage interface the server depends on: one small contract, so a PostgreSQL backend can follow SQLite.

/** One acknowledged analysis, as counted by the dashboard: no file name, no code. */
export interface AnalysisRow {
  fileHash: string;
  timestamp: string;
  score: number;
  totalIssues: number;
  securityIssues: number;
  complexityIssues: number;
}

/** The full answer given for a file, kept for the retention period and then swept. */
export interface StoredResult {
  fileHash: string;
  resultJson: string;
}

export interface TrendPoint {
  label: string;
  timestamp: string;
  score: number;
  total_issues: number;
  security_issues: number;
  complexity_issues: number;
}

export interface Stats {
  total_analyses: number;
  avg_score: number;
  total_security_issues: number;
  total_quality_issues: number;
  trend_data: TrendPoint[];
  /** Present only when the database could not be read now (locked elsewhere): these are the figures last read, and when. */
  stale?: { as_of: string; reason: string };
}

export interface FeedbackReport {
  email: string;
  type: "bug" | "feature" | "feedback";
  message: string;
  createdAt: string;
}

export interface SweepOutcome {
  results: number;
  reports: number;
  fileHashes: string[];
}

/**
 * What the database is doing now, for health: "busy" is another process or host holding the lock (not this host's
 * fault, healthy for a bounded time); "broken" is a fault here (corrupt, missing, read-only, I/O errors).
 * Texts speak of the database, never of host paths: they are shown in HTTP answers.
 */
export type DatabaseCondition =
  | { state: "ok" }
  | { state: "busy"; since: string; waiting: number }
  | { state: "broken"; since: string; problem: string };

export interface Store {
  /** Records a fresh analysis: its statistics row and its full result, in one transaction. */
  recordAnalysis(row: AnalysisRow, resultJson: string): Promise<void>;
  /** Answers a repeat upload from the stored result and counts it, in one transaction; null when none is stored. */
  recordRepeat(fileHash: string, timestamp: string): Promise<StoredResult | null>;
  findResult(fileHash: string): Promise<StoredResult | null>;
  stats(trendLength: number): Promise<Stats>;
  addReport(report: FeedbackReport): Promise<void>;
  /** Removes results and reports last seen before the cutoff; returns the hashes whose files go with them. */
  sweep(cutoff: string): Promise<SweepOutcome>;
  /** Which of these hashes still have a stored result (their files must stay). */
  liveResults(fileHashes: string[]): Promise<string[]>;
  /** Proves the store accepts writes now (a real write, cheap); while the database is broken, also re-checks it. */
  probeWrite(host: string, timestamp: string): Promise<void>;
  /** The database's condition as of the last operation, without waiting for one. */
  condition(): DatabaseCondition;
  close(): Promise<void>;
}

/** The database or the upload storage could not take a write or read (locked, read-only, I/O error): the client gets 503, nothing is half-written. */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
}

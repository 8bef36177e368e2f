// What the shared storage holds after a scenario: rows of the shared SQLite database (read only) and the stored uploads' checksums against what was acknowledged.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

export interface StoredCounts {
  /** Rows of the analysis table: one per acknowledged analysis, repeats included. */
  analyses: number;
  /** Rows of the results table: one per distinct file_hash. */
  results: number;
}

function databasePath(shared: string): string {
  return path.join(shared, "codedetect", "database", "codedetect.db");
}

export function countRows(shared: string): StoredCounts {
  const db = new Database(databasePath(shared), { readonly: true, fileMustExist: true });
  try {
    db.pragma("busy_timeout = 10000");
    const analyses = (db.prepare("SELECT count(*) AS n FROM analysis").get() as { n: number }).n;
    const results = (db.prepare("SELECT count(*) AS n FROM results").get() as { n: number }).n;
    return { analyses, results };
  } finally {
    db.close();
  }
}

export interface AcknowledgedCheck {
  /** Acknowledged file_hashes with no row in results. */
  missingRows: string[];
  /** Acknowledged file_hashes with no stored upload. */
  missingFiles: string[];
  /** Stored uploads whose sha256 is not what was sent. */
  corruptFiles: string[];
}

/** Every acknowledged upload: its row in results, its file under uploads/, and that file's sha256 equal to what the client sent. */
export function checkAcknowledged(shared: string, acknowledged: Map<string, string>): AcknowledgedCheck {
  const db = new Database(databasePath(shared), { readonly: true, fileMustExist: true });
  const missingRows: string[] = [];
  const missingFiles: string[] = [];
  const corruptFiles: string[] = [];
  try {
    db.pragma("busy_timeout = 10000");
    const row = db.prepare("SELECT 1 FROM results WHERE file_hash = ?");
    for (const [fileHash, sentHash] of acknowledged) {
      if (!row.get(fileHash)) missingRows.push(fileHash);
      const file = path.join(shared, "codedetect", "uploads", `${fileHash}.py`);
      let content: Buffer;
      try {
        content = fs.readFileSync(file);
      } catch {
        missingFiles.push(fileHash);
        continue;
      }
      if (createHash("sha256").update(content).digest("hex") !== sentHash) corruptFiles.push(fileHash);
    }
  } finally {
    db.close();
  }
  return { missingRows, missingFiles, corruptFiles };
}

// The old single-instance layout the first instance migrates from (database/codedetect.db and uploads/), so a later instance can show it does not migrate again.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { readJournal } from "../../bootstrap/journal.ts";

export function makeOldLayout(dir: string, files: number, rows: number): void {
  fs.mkdirSync(path.join(dir, "database"), { recursive: true });
  fs.mkdirSync(path.join(dir, "uploads"), { recursive: true });
  const db = new DatabaseSync(path.join(dir, "database", "codedetect.db"));
  db.exec("CREATE TABLE analysis (id INTEGER PRIMARY KEY, file_hash TEXT, timestamp TEXT, score INTEGER)");
  const insert = db.prepare("INSERT INTO analysis (file_hash, timestamp, score) VALUES (?, ?, ?)");
  for (let i = 0; i < rows; i += 1) insert.run(randomBytes(8).toString("hex"), new Date(1_700_000_000_000 + i * 1000).toISOString(), i % 101);
  db.close();
  for (let i = 0; i < files; i += 1) fs.writeFileSync(path.join(dir, "uploads", `20250101_old_${i}.py`), `# old upload ${i}\nvalue = ${i}\n`);
}

/** The step's journal entry for an instance: outcome and the actions it took. */
export function journalStep(stateDir: string, step: string): { outcome: string; actions: string[] } | null {
  try {
    return readJournal(stateDir).steps[step] ?? null;
  } catch {
    return null;
  }
}

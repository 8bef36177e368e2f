// Copying with proof: each file copied while hashed, then re-read and compared; the database through SQLite's online backup.
import { createHash } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { backup, DatabaseSync } from "node:sqlite";

const WHOLE_FILE_LIMIT = 16 * 1024 * 1024;

export async function hashFile(file: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(fs.createReadStream(file), hash);
  return hash.digest("hex");
}

/** Copies `source` to a new file `destination` (refusing to overwrite) and returns the sha256 and size of the bytes read. */
export async function copyHashed(source: string, destination: string): Promise<{ sha256: string; size: number }> {
  const stat = await fsp.stat(source);
  if (stat.size <= WHOLE_FILE_LIMIT) {
    const bytes = await fsp.readFile(source);
    await fsp.writeFile(destination, bytes, { flag: "wx", mode: 0o600 });
    return { sha256: createHash("sha256").update(bytes).digest("hex"), size: bytes.length };
  }
  const hash = createHash("sha256");
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  await pipeline(fs.createReadStream(source), tap, fs.createWriteStream(destination, { flags: "wx", mode: 0o600 }));
  return { sha256: hash.digest("hex"), size };
}

/** Copies, then re-reads the copy: throws unless its sha256 equals the source bytes'. */
export async function copyVerified(source: string, destination: string): Promise<{ sha256: string; size: number }> {
  const copied = await copyHashed(source, destination);
  const check = await hashFile(destination);
  if (check !== copied.sha256) throw new Error(`copy of ${source} does not match its source (sha256 ${check} ≠ ${copied.sha256})`);
  return copied;
}

export interface DatabaseCopy {
  sha256: string;
  size: number;
  rows: Record<string, number>;
}

/** A consistent copy of a live database (online backup API), in rollback-journal mode, integrity-checked, with each table's row count. */
export async function backupDatabase(source: string, destination: string): Promise<DatabaseCopy> {
  const from = new DatabaseSync(source, { readOnly: true });
  try {
    await backup(from, destination);
  } finally {
    from.close();
  }
  const copy = new DatabaseSync(destination);
  const rows: Record<string, number> = {};
  try {
    const verdict = copy.prepare("PRAGMA integrity_check").all().map((row) => String((row as Record<string, unknown>).integrity_check));
    if (verdict.join() !== "ok") throw new Error(`the copy of ${source} fails PRAGMA integrity_check: ${verdict.slice(0, 3).join("; ")}`);
    copy.exec("PRAGMA journal_mode=DELETE");
    const tables = copy.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all();
    for (const table of tables) {
      const name = String((table as Record<string, unknown>).name);
      rows[name] = Number((copy.prepare(`SELECT count(*) AS n FROM "${name.replaceAll('"', '""')}"`).get() as { n: number }).n);
    }
  } finally {
    copy.close();
  }
  const stat = await fsp.stat(destination);
  return { sha256: await hashFile(destination), size: stat.size, rows };
}

export interface SourceFile {
  /** Relative to the uploads directory, with "/" separators. */
  relative: string;
  absolute: string;
}

/** Regular files under `dir` (recursively); anything else (symlinks, sockets) is listed as skipped, never followed. */
export function listFiles(dir: string): { files: SourceFile[]; skipped: string[] } {
  const files: SourceFile[] = [];
  const skipped: string[] = [];
  if (!fs.existsSync(dir)) return { files, skipped };
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const absolute = path.join(entry.parentPath, entry.name);
    const relative = path.relative(dir, absolute).split(path.sep).join("/");
    if (entry.isFile()) files.push({ relative, absolute });
    else if (!entry.isDirectory()) skipped.push(relative);
  }
  files.sort((a, b) => (a.relative < b.relative ? -1 : a.relative > b.relative ? 1 : 0));
  return { files, skipped: skipped.sort() };
}

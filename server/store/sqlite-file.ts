// Opens the database file for the database thread: which file it is (dev/ino), checked (quick_check), migrated, in rollback-journal mode.
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { CorruptFileError, FileMissingError, RESTORE_ADVICE, UnusableFileError } from "./failures.ts";
import { migrate, SCHEMA_VERSION } from "./migrations.ts";

/** Device and inode of the file at a path: a restore that renames a backup into place, or a removal, changes it. */
export type FileIdentity = string;

export function identityAt(file: string): FileIdentity | null {
  try {
    const stat = fs.statSync(file, { bigint: true });
    return `${stat.dev}:${stat.ino}`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

export interface OpenedFile {
  db: Database.Database;
  identity: FileIdentity;
  schema: { from: number; to: number };
  /** True when this open created the file (first start of a deployment). */
  created: boolean;
}

/** SQLite's quick_check (O(size), reads every page once): its problem lines, none when the file is sound. */
export function quickCheck(db: Database.Database): string[] {
  const rows = db.pragma("quick_check", { simple: false }) as Array<{ quick_check: string }>;
  return rows
    .flatMap((row) => row.quick_check.split("\n"))
    .map((line) => line.trim())
    .filter((line) => line !== "ok" && line !== "" && !/^\*\*\* in database \w+ \*\*\*$/.test(line));
}

/**
 * Opens the file with busy_timeout 0: a lock held elsewhere throws SQLITE_BUSY at once and the caller decides when to
 * try again. Throws FileMissingError when the file is absent and `create` is false, CorruptFileError when it fails the
 * check. The identity is read before and after opening, so a file swapped in the meantime is never mistaken for the one open.
 */
export function openFile(file: string, create: boolean): OpenedFile {
  const before = identityAt(file);
  if (before === null && !create) throw new FileMissingError("database file is missing");
  // SQLite would take an empty file for a new database and write a schema into it: while running, an empty file is
  // more likely a restore being copied in (or a truncation), so it is reported and left alone until it has content.
  if (before !== null && !create && fs.statSync(file).size === 0) {
    throw new UnusableFileError(`database file is empty (a restore still being copied, or truncated); ${RESTORE_ADVICE}`);
  }
  if (before === null) fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file, { timeout: 0, fileMustExist: !create });
  try {
    const mode = db.pragma("journal_mode = DELETE", { simple: true });
    if (mode !== "delete") {
      throw new UnusableFileError(`database stays in journal_mode=${String(mode)} (another process keeps it so); it must be DELETE on shared storage: stop that process`);
    }
    db.pragma("synchronous = FULL");
    db.pragma("temp_store = MEMORY");
    const problems = quickCheck(db);
    if (problems.length > 0) throw new CorruptFileError(problems);
    // Only a file behind this server's schema needs migrate()'s exclusive lock; reading the version needs none.
    const version = db.pragma("user_version", { simple: true }) as number;
    const schema = version === SCHEMA_VERSION ? { from: version, to: version } : migrate(db);
    const identity = identityAt(file);
    if (identity === null) throw new FileMissingError("database file removed while it was being opened");
    if (before !== null && identity !== before) {
      throw Object.assign(new Error("database file replaced while it was being opened"), { code: "SQLITE_READONLY_DBMOVED" });
    }
    return { db, identity, schema, created: before === null };
  } catch (error) {
    db.close();
    throw error;
  }
}

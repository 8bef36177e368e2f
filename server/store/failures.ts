// Sorts what SQLite (or the file system under it) threw into busy, moved, corrupt, broken or a plain failure, in words without host paths.

export type Failure =
  /** Another process or host holds the lock: wait and try again. */
  | { kind: "busy"; detail: string }
  /** The file at the path is no longer the one open (replaced or removed): reopen before trying again. */
  | { kind: "moved"; detail: string }
  /** The database file is gone from its path: reported, never silently recreated empty while the server runs. */
  | { kind: "missing"; problem: string }
  /** The file's content is damaged: nothing can be trusted until it passes a check again. */
  | { kind: "corrupt"; problem: string }
  /** A fault of this host's storage (I/O error, full, read-only, cannot open): reported until a write succeeds. */
  | { kind: "broken"; problem: string }
  /** Anything else (a bug, a constraint): fails the one operation only. */
  | { kind: "failed"; message: string };

export const RESTORE_ADVICE = "restore it from a backup (`npm run backup -- DEST` makes one)";

export const MISSING_PROBLEM =
  `database file is missing (removed or renamed while the server runs); ${RESTORE_ADVICE}; the server picks the file up as soon as it is back`;

/** The database file is not at its path (and may not be created there now). */
export class FileMissingError extends Error {
  override name = "FileMissingError";
}

/** The file opened but fails SQLite's quick_check; `problems` are SQLite's own lines. */
export class CorruptFileError extends Error {
  override name = "CorruptFileError";
  readonly problems: string[];
  constructor(problems: string[]) {
    const more = problems.length > 3 ? `; and ${problems.length - 3} more` : "";
    super(`quick_check found ${problems.length} problem${problems.length === 1 ? "" : "s"}: ${problems.slice(0, 3).join("; ")}${more}`);
    this.problems = problems;
  }
}

/** A state of the file this server will not work with (e.g. kept in WAL mode by another process); the text says why. */
export class UnusableFileError extends Error {
  override name = "UnusableFileError";
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** SQLite's own messages name no paths; Node's file-system messages do, so those are reduced to their code. */
function described(error: unknown): string {
  const code = codeOf(error);
  const message = (error as Error | null)?.message ?? String(error);
  if (code?.startsWith("SQLITE_")) return `${code}: ${message}`;
  return code ?? "unknown error";
}

export function classify(error: unknown): Failure {
  if (error instanceof FileMissingError) return { kind: "missing", problem: MISSING_PROBLEM };
  if (error instanceof CorruptFileError) return { kind: "corrupt", problem: `database file is corrupt (${error.message}); ${RESTORE_ADVICE}` };
  if (error instanceof UnusableFileError) return { kind: "broken", problem: error.message };
  const code = codeOf(error) ?? "";
  if (/^SQLITE_(BUSY|LOCKED|PROTOCOL)/.test(code)) return { kind: "busy", detail: described(error) };
  if (code === "SQLITE_READONLY_DBMOVED") return { kind: "moved", detail: described(error) };
  if (/^SQLITE_(CORRUPT|NOTADB)/.test(code)) return { kind: "corrupt", problem: `database file is corrupt (${described(error)}); ${RESTORE_ADVICE}` };
  if (code === "SQLITE_FULL" || code === "ENOSPC") return { kind: "broken", problem: `database storage is full (${described(error)}); free space on the data volume` };
  if (/^SQLITE_READONLY/.test(code) || code === "EROFS" || code === "EACCES" || code === "EPERM") {
    return { kind: "broken", problem: `database file cannot be written (${described(error)}); check the data volume's mount and the file's permissions` };
  }
  if (/^SQLITE_(IOERR|CANTOPEN|PERM)/.test(code) || code === "EIO" || code === "ENOTDIR" || code === "ESTALE") {
    return { kind: "broken", problem: `database storage failed (${described(error)}); check the data volume` };
  }
  return { kind: "failed", message: (error as Error | null)?.message ?? String(error) };
}

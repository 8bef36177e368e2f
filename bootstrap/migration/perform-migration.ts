// Performs a migrate action: under the shared lock, copy into staging and verify, write the commit record, move into place (never overwriting), write the marker.
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import { DatabaseSync } from "node:sqlite";
import os from "node:os";
import path from "node:path";
import type { HostAction } from "../../compose/actions.ts";
import { ComposeError } from "../../compose/errors.ts";
import { crashPoint } from "../crash.ts";
import { metadataRoundTrip } from "./latency.ts";
import { backupDatabase, hashFile, listFiles } from "./copy.ts";
import { copyAllVerified, type CopyJob } from "./copy-pool.ts";
import { acquireLock, LeaseLostError, type Lease } from "./lock.ts";
import { CommitSchema, MarkerSchema, migrationPaths, readRecord, writeRecord, type Commit, type Marker } from "./records.ts";

type MigrateAction = Extract<HostAction, { kind: "migrate" }>;
type Paths = ReturnType<typeof migrationPaths>;

const DATABASE_NAME = "codedetect.db";

export function sourcePaths(source: string) {
  return { database: path.join(source, "database", DATABASE_NAME), uploads: path.join(source, "uploads") };
}

function own(file: string, owner: number): void {
  if (process.getuid?.() === 0) fs.chownSync(file, owner, owner);
}

/** Whether `file` exists: one metadata round trip on the shared storage. */
function exists(file: string): boolean {
  metadataRoundTrip();
  return fs.existsSync(file);
}

function mkdirOwned(dir: string, owner: number, stop: string): void {
  const missing: string[] = [];
  for (let current = dir; current !== stop && !exists(current); current = path.dirname(current)) missing.unshift(current);
  for (const each of missing) {
    metadataRoundTrip();
    try {
      fs.mkdirSync(each, { mode: 0o700 });
    } catch (error) {
      // Made meanwhile (by the agent that took over from a frozen one): a directory there is what was wanted.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST" || !fs.statSync(each).isDirectory()) throw error;
      continue;
    }
    own(each, owner);
  }
}

/** Row counts of each table of a database already on the shared tree; null when there is none. */
function liveDatabase(file: string): Record<string, number> | null {
  if (!fs.existsSync(file)) return null;
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    const rows: Record<string, number> = {};
    for (const table of db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").all()) {
      const name = String((table as Record<string, unknown>).name);
      rows[name] = Number((db.prepare(`SELECT count(*) AS n FROM "${name.replaceAll('"', '""')}"`).get() as { n: number }).n);
    }
    return rows;
  } finally {
    db.close();
  }
}

/**
 * A fleet already serves from the shared tree (a database there, no marker): migrating now would put the old uploads beside rows that
 * do not name them and leave the old rows in an archive nobody serves (issue 13, item 9). Refused before anything is written, with the
 * two ways on; there is no safe automatic merge (both databases number their rows from 1, and the fleet writes while we would merge).
 */
export function refuseLiveTree(action: MigrateAction, paths: Paths): void {
  const database = path.join(paths.database, DATABASE_NAME);
  const rows = liveDatabase(database);
  if (rows === null) return;
  const held = Object.entries(rows).map(([table, n]) => `${table}: ${n} rows`).join(", ") || "no tables";
  throw new ComposeError({
    what: `migrate ${action.source} into ${paths.target}`,
    cause: `the shared tree already serves a database (${held}) and has no migration marker, so placing the old data now would archive its rows where nothing serves them`,
    next: `to keep only the fleet's data, move ${action.source} aside or set migrateFrom to "" (tag codedetect:migrateFrom, or CODEDETECT_MIGRATE_FROM=) and re-run; to serve the old data instead, stop every instance (scale the group to 0), move ${database} aside, and re-run`,
  });
}

/** Stage 1: everything copied into staging and verified, then the commit record: from here on the migration rolls forward. */
async function stage(action: MigrateAction, paths: Paths, lease: Lease, log: (line: string) => void): Promise<Commit> {
  refuseLiveTree(action, paths);
  lease.check("clearing the staging directory");
  fs.rmSync(paths.work, { recursive: true, force: true });
  fs.mkdirSync(path.join(paths.staging, "uploads"), { recursive: true, mode: 0o700 });
  const source = sourcePaths(action.source);
  let database: Commit["database"] = null;
  if (fs.existsSync(source.database)) {
    const staged = path.join(paths.staging, DATABASE_NAME);
    const copy = await backupDatabase(source.database, staged);
    own(staged, action.owner);
    fs.chmodSync(staged, 0o600);
    // A database that appeared since the refusal above (a server started meanwhile without the marker): refused the same way.
    refuseLiveTree(action, paths);
    const createdAt = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*$/, "");
    database = { sha256: copy.sha256, size: copy.size, decision: "place", archiveName: `${DATABASE_NAME}.migrated-${createdAt}`, rows: copy.rows };
    log(`database copied with the online backup and checked (${Object.entries(copy.rows).map(([table, n]) => `${table}: ${n} rows`).join(", ") || "no tables"})`);
    crashPoint();
  }
  const { files, skipped } = listFiles(source.uploads);
  // Staging directories first (owned like the tree), then the copies in parallel worker threads.
  const made = new Set<string>();
  const jobs: CopyJob[] = files.map((file) => {
    const staged = path.join(paths.staging, "uploads", file.relative);
    const dir = path.dirname(staged);
    if (!made.has(dir)) {
      lease.check(`creating ${dir}`);
      mkdirOwned(dir, action.owner, paths.staging);
      made.add(dir);
    }
    return { source: file.absolute, destination: staged };
  });
  const relativeOf = new Map(files.map((file) => [file.absolute, file.relative]));
  const copied: ({ path: string; sha256: string; size: number } | null)[] = [];
  let failure: Error | null = null;
  await copyAllVerified(jobs, { owner: action.owner }, (job, result) => {
    const relative = relativeOf.get(job.source)!;
    lease.check(`recording the copy of uploads/${relative}`);
    if (result.ok) {
      copied.push({ path: relative, sha256: result.sha256, size: result.size });
      crashPoint();
      return;
    }
    // The old server may delete an upload between the listing and its copy: that file is no longer part of the data.
    if (result.code === "ENOENT" && !fs.existsSync(job.source)) {
      skipped.push(`${relative} (deleted at the source during the copy)`);
      return;
    }
    failure ??= new Error(result.message);
  });
  if (failure) throw failure;
  copied.sort((a, b) => (a!.path < b!.path ? -1 : a!.path > b!.path ? 1 : 0));
  const records = copied.filter((record) => record !== null);
  if (skipped.length > 0) log(`not copied (not regular files): ${skipped.join(", ")}`);
  const commit: Commit = { version: 1, migrationId: randomUUID(), holder: action.holder, createdAt: new Date().toISOString(), source: action.source, database, files: records, skipped };
  lease.assertHeld("writing the commit record");
  writeRecord(paths.commit, CommitSchema.parse(commit));
  crashPoint();
  return commit;
}

/**
 * Moves one staged file to `target` without overwriting: link (fails if taken), then unlink the staged name. Returns where it landed.
 * `guard` runs before every write (the lease still ours), so an agent that lost the lock stops before it changes anything more.
 */
async function place(staged: string, target: string, sha256: string, fallback: string, owner: number, stop: string, guard: (before: string) => void): Promise<string> {
  const landed = async (file: string) => exists(file) && (await hashFile(file)) === sha256;
  if (!exists(staged)) {
    if (await landed(target)) return target;
    if (await landed(fallback)) return fallback;
    throw new Error(`${staged} is gone but neither ${target} nor ${fallback} holds its content`);
  }
  for (const destination of [target, fallback]) {
    guard(`placing ${destination}`);
    mkdirOwned(path.dirname(destination), owner, stop);
    try {
      metadataRoundTrip();
      fs.linkSync(staged, destination);
    } catch (error) {
      // A staged file gone under us means another agent took over while this one stalled: say that, not ENOENT.
      guard(`placing ${destination}`);
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (!(await landed(destination))) continue;
    }
    guard(`removing the staged ${staged}`);
    metadataRoundTrip();
    try {
      fs.unlinkSync(staged);
    } catch (error) {
      guard(`removing the staged ${staged}`);
      throw error;
    }
    return destination;
  }
  throw new Error(`both ${target} and ${fallback} exist with other content`);
}

/** Stage 2, idempotent: puts every committed file in place, then the marker. */
async function rollForward(commit: Commit, action: MigrateAction, paths: Paths, lease: Lease): Promise<Marker> {
  const guard = (before: string) => lease.check(before);
  const files: Marker["files"] = [];
  const conflicts: string[] = [];
  for (const [index, file] of commit.files.entries()) {
    // The event loop breathes between files, so the launching hook's heartbeat timer fires during a long placement (the lease does not need it).
    if (index % 64 === 63) await new Promise((resolve) => setImmediate(resolve));
    const target = path.join(paths.uploads, file.path);
    const fallback = path.join(paths.conflicts, "uploads", file.path);
    const placedAs = await place(path.join(paths.staging, "uploads", file.path), target, file.sha256, fallback, action.owner, paths.target, guard);
    if (placedAs !== target) conflicts.push(`uploads/${file.path} exists with other content; the migrated one is ${path.relative(paths.target, placedAs)}`);
    files.push({ ...file, placedAs: path.relative(paths.target, placedAs) });
    crashPoint();
  }
  let database: Marker["database"] = null;
  if (commit.database) {
    const wanted = path.join(paths.database, commit.database.decision === "place" ? DATABASE_NAME : commit.database.archiveName);
    const archive = path.join(paths.database, commit.database.archiveName);
    const placedAs = await place(path.join(paths.staging, DATABASE_NAME), wanted, commit.database.sha256, archive, action.owner, paths.target, guard);
    database = { sha256: commit.database.sha256, placedAs: path.relative(paths.target, placedAs), archived: placedAs !== path.join(paths.database, DATABASE_NAME), integrity: "ok", rows: commit.database.rows };
    crashPoint();
  }
  const marker: Marker = {
    version: 1,
    migrationId: commit.migrationId,
    holder: action.holder,
    host: os.hostname(),
    finishedAt: new Date().toISOString(),
    source: commit.source,
    database,
    files,
    skipped: commit.skipped,
    conflicts,
  };
  lease.assertHeld("writing the marker");
  writeRecord(paths.marker, MarkerSchema.parse(marker));
  crashPoint();
  lease.check("removing the work directory");
  fs.rmSync(paths.work, { recursive: true, force: true });
  return marker;
}

/**
 * A holder that lost its lease (frozen mid-renewal, then taken over) can leave its renewal's temporary file; once the marker is
 * written, ours removes them (not acquisition temporaries: a waiter links its own at any moment). The thawed holder never renames
 * one into place: its renewer re-checks the lease first, and a missing temporary fails its rename.
 */
function removeStaleRenewals(lock: string, ours: string): void {
  const prefix = `${path.basename(lock)}.`;
  for (const name of fs.readdirSync(path.dirname(lock))) {
    if (name.startsWith(prefix) && name.endsWith(".renew") && !name.includes(ours)) fs.rmSync(path.join(path.dirname(lock), name), { force: true });
  }
}

export function describeMarker(marker: Marker): string {
  const database = marker.database
    ? marker.database.archived
      ? `a database was already on the shared storage: kept it, and archived the migrated one beside it as ${marker.database.placedAs}`
      : `the database (${Object.entries(marker.database.rows).map(([table, n]) => `${table}: ${n} rows`).join(", ")})`
    : "no database";
  const conflicts = marker.conflicts.length > 0 ? `; ${marker.conflicts.length} upload name(s) taken, migrated copies under migration-conflicts/` : "";
  return `migrated ${marker.files.length} upload(s) and ${database} from ${marker.source}${conflicts}`;
}

/**
 * Migrates under the lock. A lease lost on the way (this instance paused or stalled past it, another host took the lock over) is not
 * the end: the agent that took over rolls the same commit forward, so this one waits for the lock once more, as a late booter would,
 * and finds the migration finished (or resumes it). Failing instead sent FAILURE for a pause, rolling a whole create back.
 */
export async function migrate(action: MigrateAction, log: (line: string) => void): Promise<string> {
  try {
    return await migrateUnderLock(action, log);
  } catch (error) {
    if (!(error instanceof LeaseLostError)) throw error;
    log(`${error.message.split("; ")[0]}; waiting for the lock again`);
    return await migrateUnderLock(action, log);
  }
}

async function migrateUnderLock(action: MigrateAction, log: (line: string) => void): Promise<string> {
  const paths = migrationPaths(action.target);
  const lease = await acquireLock(paths.lock, { holder: action.holder, leaseMs: action.leaseSeconds * 1000, waitMs: action.lockWaitSeconds * 1000, log });
  try {
    if (process.env.BOOTSTRAP_TEST_HOLD_LOCK_MS) await new Promise((resolve) => setTimeout(resolve, Number(process.env.BOOTSTRAP_TEST_HOLD_LOCK_MS)));
    const done = readRecord(paths.marker, MarkerSchema);
    if (done) return `already migrated by ${done.holder} at ${done.finishedAt}${lease.waited ? " (waited for it)" : ""}`;
    const pending = readRecord(paths.commit, CommitSchema);
    if (pending) log(`resuming the migration ${pending.migrationId} interrupted after its commit`);
    const commit = pending ?? (await stage(action, paths, lease, log));
    const marker = await rollForward(commit, action, paths, lease);
    removeStaleRenewals(paths.lock, lease.content.token);
    for (const conflict of marker.conflicts) log(conflict);
    if (marker.database?.archived) log(`kept the database already on the shared storage; the migrated one is ${marker.database.placedAs}`);
    return describeMarker(marker);
  } catch (error) {
    // A raw failure (an ENOENT from a staging directory cleared by the agent that took over) while the lock is no longer ours: the lost lock is the cause.
    if (!(error instanceof LeaseLostError)) {
      try {
        lease.assertHeld("going on");
      } catch (lost) {
        if (lost instanceof LeaseLostError) throw lost;
      }
    }
    throw error;
  } finally {
    await lease.release();
  }
}

// What the migration writes down on the shared storage: the commit record (what to move) and the marker (who, when, what, checksums).
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { readRecordFile } from "../record-file.ts";

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const FileRecord = z.object({ path: z.string().min(1), sha256, size: z.number().int().min(0) }).strict();

export const CommitSchema = z
  .object({
    version: z.literal(1),
    migrationId: z.string().min(1),
    holder: z.string().min(1),
    createdAt: z.iso.datetime(),
    source: z.string().min(1),
    database: z
      .object({ sha256, size: z.number().int().min(0), decision: z.enum(["place", "archive"]), archiveName: z.string().min(1), rows: z.record(z.string(), z.number().int()) })
      .strict()
      .nullable(),
    files: z.array(FileRecord),
    skipped: z.array(z.string()),
  })
  .strict();

export const MarkerSchema = z
  .object({
    version: z.literal(1),
    migrationId: z.string().min(1),
    holder: z.string().min(1),
    host: z.string().min(1),
    finishedAt: z.iso.datetime(),
    source: z.string().min(1),
    database: z
      .object({ sha256, placedAs: z.string().min(1), archived: z.boolean(), integrity: z.literal("ok"), rows: z.record(z.string(), z.number().int()) })
      .strict()
      .nullable(),
    files: z.array(FileRecord.extend({ placedAs: z.string().min(1) }).strict()),
    skipped: z.array(z.string()),
    conflicts: z.array(z.string()),
  })
  .strict();

export type Commit = z.infer<typeof CommitSchema>;
export type Marker = z.infer<typeof MarkerSchema>;

export function migrationPaths(target: string) {
  const work = path.join(target, ".migration");
  return {
    target,
    marker: path.join(target, ".migrated.json"),
    lock: path.join(target, ".migration.lock"),
    work,
    staging: path.join(work, "staging"),
    commit: path.join(work, "commit.json"),
    database: path.join(target, "database"),
    uploads: path.join(target, "uploads"),
    conflicts: path.join(target, "migration-conflicts"),
  };
}

/** Reads a record; absent is null, and one that does not fit its schema stops everything (it is never guessed at). */
export function readRecord<T>(file: string, schema: z.ZodType<T>): T | null {
  return readRecordFile(file, schema, "inspect it by hand");
}

/** A whole new file renamed into place: readers see the old record or the new one, never half of one. */
export function writeRecord(file: string, data: unknown): void {
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(data)}\n`, { mode: 0o644 });
  fs.renameSync(temporary, file);
}

// Content-addressed upload files under DATA_DIR/uploads: temp name, fsync, rename — no collisions, no partial files.
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { getSystemErrorMessage } from "node:util";
import { StoreUnavailableError } from "../store/store.ts";

const HASH = /^[0-9a-f]{64}$/;
const STORED = /^([0-9a-f]{64})\.py$/;
const TEMP_DIR = ".tmp";

export interface FileStore {
  readonly dir: string;
  /** Stores bytes under their sha256; "existing" when the same content was already there (its age is refreshed). */
  put(sha256: string, bytes: Buffer): Promise<"created" | "existing">;
  remove(sha256: string): Promise<void>;
  /** The stored file's size in bytes, or null when there is none (never stored, or swept). */
  size(sha256: string): Promise<number | null>;
  /** The stored file's bytes, or null when there is none. */
  read(sha256: string): Promise<Buffer | null>;
  /** Hashes of the stored files last written before the cutoff. */
  writtenBefore(cutoff: Date): Promise<string[]>;
  /**
   * Removes the files of these hashes, except one written at or after `keepIfWrittenSince` (an upload stored it again
   * while the sweep ran: its result is being recorded anew). Returns how many were removed.
   */
  expire(hashes: string[], keepIfWrittenSince: Date): Promise<number>;
  /** Removes temp files older than the cutoff (left by a crash mid-write); returns how many. */
  sweepTemp(cutoff: Date): Promise<number>;
  /** Proves the directory takes a durable write now. */
  probeWrite(): Promise<void>;
  /** Bytes an unprivileged writer can still put on the directory's file system (statfs: available blocks × block size). */
  freeBytes(): Promise<number>;
}

/** An error of the file system in words without its path (the path may reach an HTTP answer): "ENOTDIR (not a directory)". */
export function describeFsError(error: unknown): string {
  const { code, errno } = error as NodeJS.ErrnoException;
  if (!code) return (error as Error).message;
  return typeof errno === "number" ? `${code} (${getSystemErrorMessage(errno)})` : code;
}

function fileOf(dir: string, sha256: string): string {
  if (!HASH.test(sha256)) throw new Error(`not a sha256 digest: ${sha256}`);
  return path.join(dir, `${sha256}.py`);
}

async function writeDurably(file: string, bytes: Buffer | string): Promise<void> {
  const handle = await fs.open(file, "wx", 0o640);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function unlinkQuietly(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
}

/** What a read gives, null when the file is absent; any other failure is the storage's (503), in words without the path. */
async function readOrAbsent<T>(read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new StoreUnavailableError(`upload storage read failed: ${describeFsError(error)}`, { cause: error });
  }
}

export async function openFileStore(dir: string): Promise<FileStore> {
  const tempDir = path.join(dir, TEMP_DIR);
  await fs.mkdir(tempDir, { recursive: true });
  const tempName = (purpose: string) => path.join(tempDir, `${purpose}-${process.pid}-${randomBytes(8).toString("hex")}`);
  /**
   * Writes a new temp file. The temp directory holds no data, so one missing (uploads restored from a backup without
   * it) is made again; the uploads directory itself is not: without it the volume is not what it should be.
   */
  const writeTemp = async (file: string, bytes: Buffer | string) => {
    try {
      await writeDurably(file, bytes);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      await fs.mkdir(tempDir);
      await writeDurably(file, bytes);
    }
  };

  /** Moves the file aside first (atomic), then decides: an upload that refreshed it before the move is seen in its mtime. */
  const expireOne = async (sha256: string, keepIfWrittenSince: Date): Promise<boolean> => {
    const final = fileOf(dir, sha256);
    const aside = tempName("expired");
    try {
      await fs.rename(final, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw error;
    }
    if ((await fs.stat(aside)).mtime >= keepIfWrittenSince) {
      // Written again during the sweep: put it back. A copy stored meanwhile has the same content (same hash).
      await fs.rename(aside, final);
      return false;
    }
    await fs.unlink(aside);
    return true;
  };

  return {
    dir,
    async put(sha256, bytes) {
      const final = fileOf(dir, sha256);
      const now = new Date();
      try {
        await fs.utimes(final, now, now);
        return "existing";
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
          throw new StoreUnavailableError(`upload storage write failed: ${describeFsError(error)}`, { cause: error });
        }
      }
      const temp = tempName("upload");
      try {
        await writeTemp(temp, bytes);
        await fs.rename(temp, final);
      } catch (error) {
        await unlinkQuietly(temp).catch(() => false);
        throw new StoreUnavailableError(`upload storage write failed: ${describeFsError(error)}`, { cause: error });
      }
      return "created";
    },
    async remove(sha256) {
      await unlinkQuietly(fileOf(dir, sha256));
    },
    size: (sha256) => readOrAbsent(() => fs.stat(fileOf(dir, sha256)).then((stat) => stat.size)),
    read: (sha256) => readOrAbsent(() => fs.readFile(fileOf(dir, sha256))),
    async writtenBefore(cutoff) {
      const hashes: string[] = [];
      for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
        const hash = entry.isFile() ? STORED.exec(entry.name)?.[1] : undefined;
        if (!hash) continue;
        const stat = await fs.stat(path.join(dir, entry.name)).catch(() => null);
        if (stat && stat.mtime < cutoff) hashes.push(hash);
      }
      return hashes;
    },
    async expire(hashes, keepIfWrittenSince) {
      if (hashes.length === 0) return 0;
      await fs.mkdir(tempDir).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "EEXIST") throw error;
      });
      let removed = 0;
      for (const sha256 of new Set(hashes)) if (await expireOne(sha256, keepIfWrittenSince)) removed++;
      return removed;
    },
    async sweepTemp(cutoff) {
      let removed = 0;
      const entries = await fs.readdir(tempDir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return []; // nothing left behind where there is no temp directory
        throw error;
      });
      for (const entry of entries) {
        if (!entry.isFile()) continue;
        const file = path.join(tempDir, entry.name);
        const stat = await fs.stat(file).catch(() => null);
        if (stat && stat.mtime < cutoff && (await unlinkQuietly(file))) removed++;
      }
      return removed;
    },
    async probeWrite() {
      const temp = tempName("probe");
      try {
        await writeTemp(temp, "probe");
        await unlinkQuietly(temp);
      } catch (error) {
        await unlinkQuietly(temp).catch(() => false);
        throw new StoreUnavailableError(`upload storage does not take writes: ${describeFsError(error)}`, { cause: error });
      }
    },
    async freeBytes() {
      try {
        const stats = await fs.statfs(dir);
        return stats.bavail * stats.bsize;
      } catch (error) {
        throw new StoreUnavailableError(`upload storage's free space cannot be read: ${describeFsError(error)}`, { cause: error });
      }
    },
  };
}

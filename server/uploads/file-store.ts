// Content-addressed upload files under DATA_DIR/uploads: temp name, fsync, rename — no collisions, no partial files.
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { StoreUnavailableError } from "../store/store.ts";

const HASH = /^[0-9a-f]{64}$/;
const TEMP_DIR = ".tmp";

export interface FileStore {
  readonly dir: string;
  /** Stores bytes under their sha256; "existing" when the same content was already there (its age is refreshed). */
  put(sha256: string, bytes: Buffer): Promise<"created" | "existing">;
  remove(sha256: string): Promise<void>;
  /** Removes files of the given hashes, files older than the cutoff, and temp files left by a crash. */
  sweep(hashes: string[], cutoff: Date, tempCutoff: Date): Promise<number>;
  /** Proves the directory takes a durable write now. */
  probeWrite(): Promise<void>;
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

export async function openFileStore(dir: string): Promise<FileStore> {
  const tempDir = path.join(dir, TEMP_DIR);
  await fs.mkdir(tempDir, { recursive: true });
  const tempName = () => path.join(tempDir, `${process.pid}-${randomBytes(8).toString("hex")}`);

  return {
    dir,
    async put(sha256, bytes) {
      const final = fileOf(dir, sha256);
      const now = new Date();
      try {
        await fs.utimes(final, now, now);
        return "existing";
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
      }
      const temp = tempName();
      try {
        await writeDurably(temp, bytes);
        await fs.rename(temp, final);
      } catch (error) {
        await unlinkQuietly(temp).catch(() => false);
        throw new StoreUnavailableError(`upload storage write failed: ${(error as Error).message}`, { cause: error });
      }
      return "created";
    },
    async remove(sha256) {
      await unlinkQuietly(fileOf(dir, sha256));
    },
    async sweep(hashes, cutoff, tempCutoff) {
      let removed = 0;
      for (const sha256 of hashes) if (await unlinkQuietly(fileOf(dir, sha256))) removed++;
      for (const [folder, limit] of [[dir, cutoff], [tempDir, tempCutoff]] as const) {
        for (const entry of await fs.readdir(folder, { withFileTypes: true })) {
          if (!entry.isFile()) continue;
          const file = path.join(folder, entry.name);
          const stat = await fs.stat(file).catch(() => null);
          if (stat && stat.mtime < limit && (await unlinkQuietly(file))) removed++;
        }
      }
      return removed;
    },
    async probeWrite() {
      const temp = tempName();
      try {
        await writeDurably(temp, "probe");
      } finally {
        await unlinkQuietly(temp);
      }
    },
  };
}

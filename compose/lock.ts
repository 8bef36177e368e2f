// One deploy at a time per host: an atomic mkdir lock in a host-wide directory, with a details file; a lock left by a dead process is taken over.
import fs from "node:fs/promises";
import os from "node:os";
import { z } from "zod";
import { ComposeError } from "./errors.ts";

const lockDetailsSchema = z.strictObject({ pid: z.number().int().positive(), host: z.string(), command: z.string(), since: z.string() });
export type LockDetails = z.infer<typeof lockDetailsSchema>;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readDetails(dir: string): Promise<LockDetails | null> {
  try {
    // Details that do not fit are no details: the lock then counts as held (never taken over on a guess).
    const parsed = lockDetailsSchema.safeParse(JSON.parse(await fs.readFile(`${dir}/details.json`, "utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The host-wide lock directory: COMPOSE_LOCK_DIR, else /run/lock/codedetect (shared by every state directory on the host). */
export function defaultLockDir(): string {
  return process.env.COMPOSE_LOCK_DIR || "/run/lock/codedetect";
}

/** Whether the lock at `dir` was left by a process that is gone: its holder on this host is dead, or it has had no details for a minute (its maker died between mkdir and writing them). */
async function leftBehind(dir: string, holder: LockDetails | null): Promise<boolean> {
  if (holder === null) return Date.now() - ((await fs.stat(dir).catch(() => null))?.mtimeMs ?? Date.now()) > 60_000;
  return holder.host === os.hostname() && !alive(holder.pid);
}

/** Whether a deploy holds the host's lock now: a live holder (a lock left behind by a dead one does not count). */
export async function deployInProgress(lockDir: string): Promise<boolean> {
  const dir = `${lockDir.replace(/(.)\/$/, "$1")}/lock`;
  if (!(await fs.stat(dir).catch(() => null))?.isDirectory()) return false;
  return !(await leftBehind(dir, await readDetails(dir)));
}

/** Runs `fn` holding `<lockDir>/lock` (lockDir is made if missing); refuses, naming the holder, while another live process holds it. */
export async function withLock<T>(lockDir: string, command: string, fn: () => Promise<T>): Promise<T> {
  const dir = `${lockDir.replace(/(.)\/$/, "$1")}/lock`;
  const details: LockDetails = { pid: process.pid, host: os.hostname(), command, since: new Date().toISOString() };
  const cannotLock = (cause: string) =>
    new ComposeError({ what: `${command}: cannot take the host's deploy lock ${dir}`, cause, next: "run as root, or set COMPOSE_LOCK_DIR to a directory this user may write", errorClass: "config" });
  // a COMPOSE_LOCK_DIR that is a file fails here with EEXIST, which below would read as "another deploy is in progress"
  await fs.mkdir(lockDir, { recursive: true, mode: 0o755 }).catch(async (error: NodeJS.ErrnoException) => {
    const isFile = (await fs.stat(lockDir).catch(() => null))?.isDirectory() === false;
    throw cannotLock(isFile ? `${lockDir} is not a directory` : error.message);
  });
  for (let attempt = 0; ; attempt += 1) {
    try {
      await fs.mkdir(dir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw cannotLock((error as Error).message);
      const holder = await readDetails(dir);
      if (!(await leftBehind(dir, holder)) || attempt > 0) {
        throw new ComposeError({
          what: `${command}: another deploy is in progress`,
          cause: holder ? `${dir} is held by pid ${holder.pid} (${holder.command}) since ${holder.since}` : `${dir} exists (no details yet)`,
          next: `wait for it to finish, or remove ${dir} if that process is gone`,
        });
      }
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
  try {
    await fs.writeFile(`${dir}/details.json`, `${JSON.stringify(details)}\n`);
    return await fn();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

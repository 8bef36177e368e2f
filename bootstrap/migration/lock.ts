// A lock on the shared storage, one holder at a time: atomic create (link), owner and lease inside; a dead holder's lock is taken over, a live one never broken.
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import { z } from "zod";

export const LockSchema = z
  .object({
    token: z.string().min(1),
    holder: z.string().min(1),
    host: z.string().min(1),
    pid: z.number().int().positive(),
    acquiredAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
  })
  .strict();

export type LockContent = z.infer<typeof LockSchema>;

export interface Lease {
  content: LockContent;
  /** Throws when the lock is no longer ours (taken over after our lease ran out): commit nothing then. */
  assertHeld(): void;
  release(): void;
  /** Whether we had to wait for another holder first. */
  waited: boolean;
}

export interface LockOptions {
  holder: string;
  leaseMs: number;
  waitMs: number;
  pollMs?: number;
  log?: (line: string) => void;
  now?: () => number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The lock's content; null when there is none, "unreadable" when something else sits at its name. */
export function readLock(file: string): LockContent | null | "unreadable" {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  const parsed = LockSchema.safeParse((() => {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  })());
  return parsed.success ? parsed.data : "unreadable";
}

/** Written whole under a private name, then linked: the lock file appears complete or not at all. */
function writeExclusive(file: string, content: LockContent): boolean {
  const temporary = `${file}.${content.token}.tmp`;
  fs.writeFileSync(temporary, `${JSON.stringify(content)}\n`, { mode: 0o644 });
  try {
    fs.linkSync(temporary, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    fs.rmSync(temporary, { force: true });
  }
}

/** Dead: on this host with no such process, or on another host with its lease run out. A live local holder is never stale. */
export function isStale(holder: LockContent, now: number, host = os.hostname()): boolean {
  if (holder.host === host) return !alive(holder.pid);
  return Date.parse(holder.expiresAt) < now;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function acquireLock(file: string, options: LockOptions): Promise<Lease> {
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 500;
  const started = now();
  const token = randomUUID();
  const content = (): LockContent => ({
    token,
    holder: options.holder,
    host: os.hostname(),
    pid: process.pid,
    acquiredAt: new Date(started).toISOString(),
    expiresAt: new Date(now() + options.leaseMs).toISOString(),
  });
  let waited = false;
  let lastReported = "";
  for (;;) {
    if (writeExclusive(file, content())) break;
    const holder = readLock(file);
    if (holder === null) continue;
    if (holder === "unreadable") throw new Error(`${file} exists but is not a lock this agent wrote; remove it if no agent is migrating, then re-run`);
    if (isStale(holder, now())) {
      // Take over: rename it to a name of our own (only one taker can), and check that it is the one we judged dead.
      const taken = `${file}.stale.${token}`;
      try {
        fs.renameSync(file, taken);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") continue;
        throw error;
      }
      const moved = readLock(taken);
      if (moved !== null && moved !== "unreadable" && moved.token !== holder.token) {
        // It was renewed or replaced meanwhile: put it back untouched.
        try {
          fs.linkSync(taken, file);
        } catch {
          /* someone else created a lock meanwhile; theirs stands */
        }
      }
      fs.rmSync(taken, { force: true });
      options.log?.(`took over the lock of ${holder.holder} (pid ${holder.pid} on ${holder.host}), which is gone`);
      continue;
    }
    waited = true;
    const report = `${holder.holder} (pid ${holder.pid} on ${holder.host}, since ${holder.acquiredAt})`;
    if (report !== lastReported) options.log?.(`waiting for the migration lock held by ${report}`);
    lastReported = report;
    if (now() - started > options.waitMs) throw new Error(`the migration lock ${file} is held by ${report}; waited ${Math.round(options.waitMs / 1000)} s`);
    await sleep(pollMs);
  }
  let current = content();
  let lost = false;
  const renew = setInterval(() => {
    const seen = readLock(file);
    if (seen === null || seen === "unreadable" || seen.token !== token) {
      lost = true;
      return;
    }
    current = content();
    const temporary = `${file}.${token}.renew`;
    fs.writeFileSync(temporary, `${JSON.stringify(current)}\n`);
    fs.renameSync(temporary, file);
  }, Math.max(1000, options.leaseMs / 3));
  renew.unref();
  return {
    content: current,
    waited,
    assertHeld() {
      const seen = readLock(file);
      if (lost || seen === null || seen === "unreadable" || seen.token !== token) throw new Error(`lost the migration lock ${file} (another agent took it over after this one stalled past its lease)`);
    },
    release() {
      clearInterval(renew);
      const seen = readLock(file);
      if (seen !== null && seen !== "unreadable" && seen.token === token) fs.rmSync(file, { force: true });
    },
  };
}

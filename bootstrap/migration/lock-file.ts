// The migration lock's file (its schema, how it is read) and the shared memory its renewer thread reports through; used by lock.ts and lease-worker.ts.
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

/** The host a lock names: this machine, or BOOTSTRAP_TEST_LOCK_HOST (test hook: agents side by side on one machine judged as separate instances, by lease only). */
export function lockHost(): string {
  return process.env.BOOTSTRAP_TEST_LOCK_HOST || os.hostname();
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

/** Slots of the BigInt64Array the renewer thread and the holder share. */
export const LEASE_SLOTS = { expiry: 0, lost: 1, stop: 2 } as const;
export const LEASE_STATE_BYTES = 3 * 8;

/** Why a lease was lost, as the renewer records it. */
export const LOST = { takenOver: 1, ranOut: 2, storage: 3 } as const;

export function describeLoss(code: number): string {
  if (code === LOST.takenOver) return "another agent took the lock over";
  if (code === LOST.ranOut) return "the lease ran out before it could be renewed (the shared storage or this process stalled)";
  if (code === LOST.storage) return "renewing it failed on the shared storage";
  return "the lease ran out before it could be renewed (the shared storage or this process stalled)";
}

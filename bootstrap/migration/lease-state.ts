// What the migration lock's holder and its renewer thread share: slots of shared memory, why a lease was lost, and the token check.
// Light on purpose (node: built-ins only): the renewer thread loads it, and a slow start of that thread would eat into the lease.
import fs from "node:fs";

/** Slots of the BigInt64Array the renewer thread and the holder share. */
export const LEASE_SLOTS = { expiry: 0, lost: 1, stop: 2 } as const;
export const LEASE_STATE_BYTES = 3 * 8;

/** Why a lease was lost, as the renewer records it. */
export const LOST = { takenOver: 1, ranOut: 2, storage: 3 } as const;

export function describeLoss(code: number): string {
  if (code === LOST.takenOver) return "another agent took the lock over";
  if (code === LOST.storage) return "renewing it failed on the shared storage";
  return "the lease ran out before it could be renewed (the shared storage or this process stalled)";
}

/** Renewal is given up (the lease counts as lost) once less than this share of the lease is left: a write that late could land after a takeover. */
export function safetyMarginMs(leaseMs: number): number {
  return Math.floor(leaseMs / 6);
}

/** The token of the lock at `file`; null when there is none or it is not a lock (then it is not ours either). */
export function lockToken(file: string): string | null {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  try {
    const token = (JSON.parse(text) as { token?: unknown }).token;
    return typeof token === "string" ? token : null;
  } catch {
    return null;
  }
}

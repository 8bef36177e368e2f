// The migration lock's renewer, in a worker thread of its own: it keeps the lease alive while the main thread is blocked in synchronous
// file operations (placing thousands of files on EFS, the integrity check), and tells the main thread, through shared memory, how long the
// lease is known to last and whether it was lost. Why a thread and not a timer: a timer on the main thread cannot fire during a synchronous
// phase, so a long placement let the lease run out under a live holder (issue 13, item 5); chunking every phase would still leave single
// slow syscalls (an NFS hard mount retries for minutes) stalling the loop, and would spread lease logic through every phase.
import fs from "node:fs";
import { parentPort } from "node:worker_threads";
import { metadataRoundTrip } from "./latency.ts";
import { LEASE_SLOTS, lockToken, LOST, safetyMarginMs } from "./lease-state.ts";
import type { LockContent } from "./lock-file.ts";

export interface LeaseWorkerData {
  file: string;
  /** The lock as acquired; each renewal rewrites it with a later expiresAt. */
  content: LockContent;
  leaseMs: number;
  /** BigInt64Array over it: [expiry] the expiresAt (epoch ms) last written and confirmed ours, [lost] 0 or a LOST code, [stop] 1 to stop. */
  state: SharedArrayBuffer;
}

export function renewLease(data: LeaseWorkerData): void {
  const state = new BigInt64Array(data.state);
  const every = Math.max(250, Math.floor(data.leaseMs / 3));
  const lose = (code: number) => {
    Atomics.compareExchange(state, LEASE_SLOTS.lost, 0n, BigInt(code));
  };
  const renew = () => {
    if (Atomics.load(state, LEASE_SLOTS.stop) === 1n || Atomics.load(state, LEASE_SLOTS.lost) !== 0n) return;
    const started = Date.now();
    if (started >= Number(Atomics.load(state, LEASE_SLOTS.expiry)) - safetyMarginMs(data.leaseMs)) return lose(LOST.ranOut);
    try {
      metadataRoundTrip();
      if (lockToken(data.file) !== data.content.token) return lose(LOST.takenOver);
      const expiresAt = started + data.leaseMs;
      const temporary = `${data.file}.${data.content.token}.renew`;
      metadataRoundTrip();
      fs.writeFileSync(temporary, `${JSON.stringify({ ...data.content, expiresAt: new Date(expiresAt).toISOString() })}\n`);
      // Checked again just before the rename: a thread frozen since the first check (a paused instance) must not put its lock
      // back over a lock another host took meanwhile. (A freeze between this check and the rename itself remains: no file system fences.)
      if (Date.now() >= Number(Atomics.load(state, LEASE_SLOTS.expiry)) - safetyMarginMs(data.leaseMs)) {
        fs.rmSync(temporary, { force: true });
        return lose(LOST.ranOut);
      }
      metadataRoundTrip();
      fs.renameSync(temporary, data.file);
      Atomics.store(state, LEASE_SLOTS.expiry, BigInt(expiresAt));
      if (first) parentPort!.postMessage("renewed");
      first = false;
    } catch {
      // The shared storage failed under us: the lease counts as lost, so nothing more is committed.
      return lose(LOST.storage);
    }
    timer = setTimeout(renew, every);
  };
  // The first renewal at once: the holder waits for it, so a thread that cannot start or write is known before any work.
  let first = true;
  let timer = setTimeout(renew, 0);
  parentPort!.on("message", () => {
    clearTimeout(timer);
    parentPort!.close();
  });
}

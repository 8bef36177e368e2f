// A lock on the shared storage, one holder at a time: atomic create (link), owner and lease inside; a dead holder's lock (its process gone, or its lease run out) is taken over, a live one never broken.
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import { startWorker } from "../workers.ts";
import { describeLoss, LEASE_SLOTS, LEASE_STATE_BYTES, safetyMarginMs } from "./lease-state.ts";
import { lockHost, readLock, type LockContent } from "./lock-file.ts";

export { readLock, type LockContent } from "./lock-file.ts";

export interface Lease {
  content: LockContent;
  /**
   * Before each write of the migration, without I/O: throws, naming `before`, unless the renewer thread has the lease confirmed ours
   * for longer than its safety margin (a write that starts later could land after another host took over).
   */
  check(before: string): void;
  /** `check`, plus the lock file read back: still ours. Before the commit record and the marker. */
  assertHeld(before?: string): void;
  /** Stops the renewer, then removes the lock if it is still ours. */
  release(): Promise<void>;
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

/**
 * Dead: its lease has run out (its renewer thread stopped: the holder checks the lease before every write, so it writes nothing more),
 * or, on this host, no such process (taken over at once). A local pid alive past its lease is not proof of life: after a reboot the
 * pid in a lock left by the crashed agent is often some other process's, and judging it alive kept every boot waiting, then failing.
 */
export function isStale(holder: LockContent, now: number, host = lockHost()): boolean {
  if (holder.host === host && !alive(holder.pid)) return true;
  return Date.parse(holder.expiresAt) < now;
}

/** The lease is no longer ours (taken over, run out, storage failing): nothing more may be written under it. */
export class LeaseLostError extends Error {
  override name = "LeaseLostError";
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function acquireLock(file: string, options: LockOptions): Promise<Lease> {
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 500;
  const started = now();
  const token = randomUUID();
  let acquiredAt = "";
  const content = (): LockContent => ({
    token,
    holder: options.holder,
    host: lockHost(),
    pid: process.pid,
    acquiredAt: acquiredAt || new Date(now()).toISOString(),
    expiresAt: new Date(now() + options.leaseMs).toISOString(),
  });
  let waited = false;
  let lastReported = "";
  /** Another host's lock first seen run out (by our clock), as it read then, and when. */
  let suspect = null as { key: string; since: number } | null;
  for (;;) {
    const attempt = content();
    if (writeExclusive(file, attempt)) {
      acquiredAt = attempt.acquiredAt;
      break;
    }
    const holder = readLock(file);
    if (holder === null) continue;
    if (holder === "unreadable") throw new Error(`${file} exists but is not a lock this agent wrote; remove it if no agent is migrating, then re-run`);
    // Another host's lease is judged by this host's clock: a holder whose clock lags looks run out while it renews. So a lock that
    // looks run out is taken over only once it has not changed for half a lease by our clock (its renewer rewrites it every third).
    const deadHere = holder.host === lockHost() && isStale(holder, now());
    let stale = deadHere;
    if (!deadHere && isStale(holder, now())) {
      const key = `${holder.token} ${holder.expiresAt}`;
      if (suspect?.key !== key) suspect = { key, since: now() };
      stale = now() - suspect.since >= options.leaseMs / 2;
    }
    if (stale) {
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
  const current = content();
  // Renewed by a thread of its own (lease-worker.ts): a main thread blocked in synchronous placement cannot starve it.
  const state = new BigInt64Array(new SharedArrayBuffer(LEASE_STATE_BYTES));
  state[LEASE_SLOTS.expiry] = BigInt(Date.parse(current.expiresAt));
  const renewer = startWorker("lease", { file, content: current, leaseMs: options.leaseMs, state: state.buffer as SharedArrayBuffer });
  renewer.unref();
  let renewerError: Error | null = null;
  renewer.on("error", (error) => (renewerError = error));
  const exited = new Promise((resolve) => renewer.once("exit", resolve));
  // Its first renewal (or its failure) before any work: a renewer that cannot run is found now, not in the middle of the commit.
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (Atomics.load(state, LEASE_SLOTS.lost) !== 0n || renewerError) finish();
    }, 50);
    const finish = () => {
      clearInterval(poll);
      renewer.off("message", finish);
      renewer.off("exit", finish);
      resolve();
    };
    renewer.on("message", finish);
    renewer.on("exit", finish);
  });
  const lostBecause = (): string | null => {
    const code = Number(Atomics.load(state, LEASE_SLOTS.lost));
    if (code !== 0) return describeLoss(code);
    if (renewerError) return `its renewer failed (${renewerError.message})`;
    if (Date.now() >= Number(Atomics.load(state, LEASE_SLOTS.expiry)) - safetyMarginMs(options.leaseMs)) return describeLoss(0);
    return null;
  };
  const lost = (before: string, why: string) =>
    new LeaseLostError(`lost the migration lock ${file} before ${before}: ${why}; nothing more was written by this agent, and the next run (or the agent that took over) rolls the migration forward`);
  const lease: Lease = {
    content: current,
    waited,
    check(before) {
      const why = lostBecause();
      if (why) throw lost(before, why);
    },
    assertHeld(before = "committing") {
      lease.check(before);
      const seen = readLock(file);
      if (seen === null || seen === "unreadable" || seen.token !== token) throw lost(before, describeLoss(1));
    },
    async release() {
      Atomics.store(state, LEASE_SLOTS.stop, 1n);
      // Referenced again, so the process waits for the renewer to stop (it was unreferenced so it never kept the agent alive alone).
      renewer.ref();
      renewer.postMessage("stop");
      await exited;
      const seen = readLock(file);
      if (seen !== null && seen !== "unreadable" && seen.token === token) fs.rmSync(file, { force: true });
    },
  };
  return lease;
}

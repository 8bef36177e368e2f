// Turns the database's condition and the probes' state into health checks that say what is happening, in words without host paths.
import type { DatabaseCondition } from "../store/store.ts";
import type { ProbePoll } from "./probe.ts";
import { withoutHostPaths } from "./redact.ts";

export interface CheckResult {
  ok: boolean;
  /** ok | busy (a lock held elsewhere, healthy for a bounded time) | broken | unresponsive | failing */
  state: "ok" | "busy" | "broken" | "unresponsive" | "failing";
  /** What is going on, when it is not simply fine. */
  detail?: string;
  /** Why the check fails (set exactly when ok is false). */
  error?: string;
  /** Since when the state holds, for anything but ok. */
  since?: string;
  checked_at: string;
}

/** A probe that has not come back in this long counts as a failure: the volume is hung or far too slow. */
export const UNRESPONSIVE_AFTER_MS = 10_000;

const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`;

export function databaseCheck(condition: DatabaseCondition, probe: ProbePoll, busyUnhealthyMs: number, now: number): CheckResult {
  const checked_at = new Date(now).toISOString();
  if (condition.state === "broken") return { ok: false, state: "broken", error: `database: ${condition.problem}`, since: condition.since, checked_at };
  if (condition.state === "busy") {
    const held = now - Date.parse(condition.since);
    const waiting = `${condition.waiting} operation${condition.waiting === 1 ? "" : "s"} waiting`;
    if (held > busyUnhealthyMs) {
      return {
        ok: false,
        state: "busy",
        error: `database locked by another process or host for ${seconds(held)}, longer than the ${seconds(busyUnhealthyMs)} allowed (${waiting}); find the process holding it`,
        since: condition.since,
        checked_at,
      };
    }
    return {
      ok: true,
      state: "busy",
      detail: `another process or host holds the database lock: ${waiting} for ${seconds(held)}; unhealthy after ${seconds(busyUnhealthyMs)}`,
      since: condition.since,
      checked_at,
    };
  }
  if (probe.pendingForMs !== null && probe.pendingForMs > UNRESPONSIVE_AFTER_MS) {
    return { ok: false, state: "unresponsive", error: `database has not answered a write for ${seconds(probe.pendingForMs)}; the data volume is hung or far too slow`, checked_at };
  }
  if (probe.outcome && !probe.outcome.ok) return { ok: false, state: "failing", error: withoutHostPaths(probe.outcome.error), checked_at };
  return { ok: true, state: "ok", checked_at };
}

/** Free space on the upload storage, as last measured, against what must stay free. */
export interface SpaceReading {
  freeBytes: number | null;
  minFreeBytes: number;
}

const megabytes = (bytes: number) => `${(bytes / (1024 * 1024)).toFixed(1)} MB`;

export function storageCheck(probe: ProbePoll, space: SpaceReading, now: number): CheckResult {
  const checked_at = new Date(now).toISOString();
  if (probe.pendingForMs !== null && probe.pendingForMs > UNRESPONSIVE_AFTER_MS) {
    return { ok: false, state: "unresponsive", error: `upload storage has not answered a write for ${seconds(probe.pendingForMs)}; the data volume is hung or far too slow`, checked_at };
  }
  if (probe.outcome && !probe.outcome.ok) return { ok: false, state: "failing", error: withoutHostPaths(probe.outcome.error), checked_at };
  // a probe's few bytes still fit on a nearly full volume while uploads no longer do: free space is checked too
  if (space.freeBytes !== null && space.freeBytes < space.minFreeBytes) {
    return {
      ok: false,
      state: "broken",
      error: `upload storage nearly full: ${megabytes(space.freeBytes)} free, less than the ${megabytes(space.minFreeBytes)} kept free (twice the upload limit); uploads fail until space is freed`,
      checked_at,
    };
  }
  return { ok: true, state: "ok", checked_at };
}

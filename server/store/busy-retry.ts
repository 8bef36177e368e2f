// When an operation that met a lock held elsewhere tries again: exponential backoff with jitter, never past its deadline.

const FIRST_DELAY_MS = 5;
const MAX_DELAY_MS = 250;

/**
 * The wait before attempt `attempt + 1` (attempt counts from 1): 5, 10, 20 … 250 ms, each drawn from its upper half,
 * so that the waiting operations of many hosts do not retry in step. `random` is injectable for tests.
 */
export function retryDelayMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(attempt - 1, 16));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** The message of an operation given up on: still locked when its deadline came. */
export function lockedTooLong(what: string, attempts: number, waitedMs: number, detail: string): string {
  return `database ${what} failed: still locked by another process or host after ${attempts} attempts in ${(waitedMs / 1000).toFixed(1)} s (${detail})`;
}

// Retries SQLite operations that met a lock held by another process or host, with backoff and jitter, within a deadline.
import pRetry, { AbortError } from "p-retry";
import { StoreUnavailableError } from "./store.ts";

const RETRYABLE = /^SQLITE_(BUSY|LOCKED|PROTOCOL)/;

export function isLockContention(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && RETRYABLE.test(code);
}

/**
 * Runs a synchronous SQLite operation; on lock contention waits (exponential, jittered, never blocking the event loop)
 * and tries again until deadlineMs. Any other SQLite failure, or the deadline, becomes a StoreUnavailableError.
 */
export async function withBusyRetry<T>(what: string, deadlineMs: number, operation: () => T): Promise<T> {
  let attempts = 0;
  try {
    return await pRetry(
      () => {
        attempts++;
        try {
          return operation();
        } catch (error) {
          if (isLockContention(error)) throw error;
          throw new AbortError(error as Error);
        }
      },
      { retries: Infinity, minTimeout: 5, factor: 2, maxTimeout: 400, randomize: true, maxRetryTime: deadlineMs },
    );
  } catch (error) {
    const cause = error as Error & { code?: string };
    const detail = cause.code ? `${cause.code}: ${cause.message}` : cause.message;
    const reason = isLockContention(error) ? `still locked after ${attempts} attempts in ${Math.round(deadlineMs / 1000)} s (${detail})` : detail;
    throw new StoreUnavailableError(`database ${what} failed: ${reason}`, { cause: error });
  }
}

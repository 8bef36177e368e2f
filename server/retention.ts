// Removes stored results, feedback reports and upload files older than the retention period, periodically, on every host.
//
// One clock: a result's last_seen_at in the database (every upload of the content, repeat or fresh, sets it). A file
// goes when its result goes, and a file without a result (left by a failed upload) once it is older than the period,
// so /api/analysis/:hash never answers for content no longer stored, and no stored content outlives its result.
import type { Logger } from "pino";
import type { Store } from "./store/store.ts";
import type { FileStore } from "./uploads/file-store.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
/** Temp files older than this were left by a crash mid-write. */
const TEMP_MAX_AGE_MS = 60 * 60 * 1000;
/**
 * A file written this close to the sweep's start (or later) was stored again by an upload racing the sweep; it stays.
 * The margin covers clocks of hosts sharing the volume that differ a little.
 */
const RACE_MARGIN_MS = 60 * 1000;

export interface SweepSummary {
  results: number;
  reports: number;
  files: number;
}

export async function sweepOnce(store: Store, files: FileStore, retentionDays: number, now = new Date()): Promise<SweepSummary> {
  const cutoff = new Date(now.getTime() - retentionDays * DAY_MS);
  const outcome = await store.sweep(cutoff.toISOString());
  const old = await files.writtenBefore(cutoff);
  const live = new Set(await store.liveResults(old)); // content uploaded again within the period: its result was kept
  const expired = [...outcome.fileHashes, ...old.filter((hash) => !live.has(hash))];
  const removedFiles = await files.expire(expired, new Date(now.getTime() - RACE_MARGIN_MS));
  const removedTemp = await files.sweepTemp(new Date(now.getTime() - TEMP_MAX_AGE_MS));
  return { results: outcome.results, reports: outcome.reports, files: removedFiles + removedTemp };
}

/** Sweeps soon after start and then every interval, with jitter so hosts started together do not sweep together. */
export function startRetentionSweeper(store: Store, files: FileStore, retentionDays: number, intervalMs: number, logger: Logger): () => void {
  let timer: NodeJS.Timeout;
  const schedule = (delay: number) => {
    timer = setTimeout(async () => {
      try {
        const summary = await sweepOnce(store, files, retentionDays);
        if (summary.results + summary.reports + summary.files > 0) logger.info(summary, "retention sweep removed expired data");
      } catch (error) {
        logger.warn({ err: (error as Error).message }, "retention sweep failed; will retry at the next interval");
      }
      schedule(intervalMs * (0.9 + Math.random() * 0.2));
    }, delay);
    timer.unref();
  };
  schedule(Math.min(intervalMs, 60_000) * Math.random());
  return () => clearTimeout(timer);
}

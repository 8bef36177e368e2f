// Checks the database, the upload storage and the analyzers in the background, so /api/health answers from memory.
import type { Logger } from "pino";
import type { AnalyzerStatus } from "../analyzers/index.ts";
import type { Store } from "../store/store.ts";
import type { FileStore } from "../uploads/file-store.ts";
import { databaseCheck, storageCheck } from "./checks.ts";
import { createProbe } from "./probe.ts";
import { withoutHostPaths } from "./redact.ts";

export type { CheckResult } from "./checks.ts";

export interface HealthSnapshot {
  ok: boolean;
  /** The checks, serialised once per refresh: the health route only concatenates it. */
  checksJson: string;
}

export interface HealthMonitorOptions {
  store: Store;
  /** Which database the store is (named in the database check; never its URL). */
  backend: "sqlite" | "postgresql";
  files: FileStore;
  analyzers: () => AnalyzerStatus;
  host: string;
  intervalMs: number;
  /**
   * How long a lock held by another process or host is reported as "busy" and still healthy. Past it the database
   * check fails: uploads have been failing for a while, and the operator must hear of a writer that does not let go.
   */
  busyUnhealthyMs: number;
  /** Upload storage with less free space than this fails its check: the next uploads would fail with ENOSPC. */
  minFreeBytes: number;
  logger: Logger;
}

export interface HealthMonitor {
  snapshot(): HealthSnapshot;
  refresh(): Promise<HealthSnapshot>;
  stop(): void;
}

/** How long one refresh waits for the probes before it reports what it knows (a probe still running is noted). */
const PROBE_WAIT_MS = 1000;

export async function startHealthMonitor(options: HealthMonitorOptions): Promise<HealthMonitor> {
  const { store, files, host, logger, busyUnhealthyMs } = options;
  let current: HealthSnapshot = { ok: false, checksJson: "{}" };
  let failing = new Set<string>();
  let running: Promise<HealthSnapshot> | null = null;
  const databaseProbe = createProbe(() => store.probeWrite(host, new Date().toISOString()));
  /** Free bytes on the upload storage at the last finished storage probe; null before one finished. */
  let freeBytes: number | null = null;
  const storageProbe = createProbe(async () => {
    await files.probeWrite();
    freeBytes = await files.freeBytes();
  });

  const runChecks = async (): Promise<HealthSnapshot> => {
    const [databasePoll, storagePoll] = await Promise.all([databaseProbe.poll(PROBE_WAIT_MS), storageProbe.poll(PROBE_WAIT_MS)]);
    const now = Date.now();
    const database = { backend: options.backend, ...databaseCheck(store.condition(), databasePoll, busyUnhealthyMs, now) };
    const storage = storageCheck(storagePoll, { freeBytes, minFreeBytes: options.minFreeBytes }, now);
    const status = options.analyzers();
    const tools = Object.fromEntries(Object.entries(status.tools).map(([name, tool]) => [name, tool.error ? { ...tool, error: withoutHostPaths(tool.error) } : tool]));
    const analyzers = { ok: status.ok, checked_at: new Date(now).toISOString(), python: status.python ? "found" : "missing", tools, workers: status.workers, running: status.running, waiting: status.waiting, queue_limit: status.queueLimit };
    const checks = { database, storage, analyzers };
    const nowFailing = new Set(Object.entries(checks).filter(([, result]) => !result.ok).map(([name]) => name));
    for (const name of nowFailing) if (!failing.has(name)) logger.error({ check: name, detail: checks[name as keyof typeof checks] }, `health check ${name} failing`);
    for (const name of failing) if (!nowFailing.has(name)) logger.info({ check: name }, `health check ${name} recovered`);
    failing = nowFailing;
    current = { ok: nowFailing.size === 0, checksJson: JSON.stringify(checks) };
    return current;
  };

  const refresh = () => (running ??= runChecks().finally(() => (running = null)));
  await refresh();
  const timer = setInterval(() => void refresh(), options.intervalMs);
  timer.unref();
  return { snapshot: () => current, refresh, stop: () => clearInterval(timer) };
}

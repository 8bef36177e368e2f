// Checks the database, the upload storage and the analyzers in the background, so /api/health answers from memory.
import type { Logger } from "pino";
import type { AnalyzerStatus } from "../analyzers/index.ts";
import type { Store } from "../store/store.ts";
import type { FileStore } from "../uploads/file-store.ts";

export interface CheckResult {
  ok: boolean;
  error?: string;
  checked_at: string;
}

export interface HealthSnapshot {
  ok: boolean;
  /** The checks, serialised once per refresh: the health route only concatenates it. */
  checksJson: string;
}

export interface HealthMonitorOptions {
  store: Store;
  files: FileStore;
  analyzers: () => AnalyzerStatus;
  host: string;
  intervalMs: number;
  logger: Logger;
}

export interface HealthMonitor {
  snapshot(): HealthSnapshot;
  refresh(): Promise<HealthSnapshot>;
  stop(): void;
}

async function check(probe: () => Promise<void>): Promise<CheckResult> {
  const checked_at = new Date().toISOString();
  try {
    await probe();
    return { ok: true, checked_at };
  } catch (error) {
    return { ok: false, error: (error as Error).message, checked_at };
  }
}

export async function startHealthMonitor(options: HealthMonitorOptions): Promise<HealthMonitor> {
  const { store, files, host, logger } = options;
  let current: HealthSnapshot = { ok: false, checksJson: "{}" };
  let failing = new Set<string>();
  let running: Promise<HealthSnapshot> | null = null;

  const runChecks = async (): Promise<HealthSnapshot> => {
    const [database, storage] = await Promise.all([
      check(() => store.probeWrite(host, new Date().toISOString())),
      check(() => files.probeWrite()),
    ]);
    const status = options.analyzers();
    const analyzers = { ok: status.ok, checked_at: new Date().toISOString(), python: status.python, tools: status.tools, workers: status.workers, running: status.running, waiting: status.waiting, queue_limit: status.queueLimit };
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

// Starts the CodeDetect server: `PORT=… DATA_DIR=… npm run server`. Config errors exit 2, start failures exit 1, one line each.
import fs from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { mmapThreshold } from "./allocator.ts";
import { createAnalysisService } from "./analysis-service.ts";
import { createAnalyzerPool, TimeoutMemory } from "./analyzers/index.ts";
import { createServerHandlers } from "./app.ts";
import { ConfigError, loadConfig, type ServerConfig } from "./config.ts";
import { startHealthMonitor } from "./health/monitor.ts";
import { createClientErrorHandler } from "./http/client-error.ts";
import { serverTimeouts } from "./http/keep-alive.ts";
import { watchDescriptors } from "./http/descriptor-watch.ts";
import { createConnectRefusal, createExpectationRefusal } from "./http/unsupported.ts";
import { loadStaticFiles } from "./http/static-files.ts";
import { createLifecycle, exitAfterLog, type Lifecycle } from "./lifecycle.ts";
import { createLogger } from "./log.ts";
import { startRetentionSweeper } from "./retention.ts";
import { openConfiguredStore } from "./store/open.ts";
import { openFileStore } from "./uploads/file-store.ts";
import { packageVersion } from "./version.ts";
import { uploadsDir } from "./paths.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
/** What wait plus analysis may take, inside a load balancer's 60 s idle timeout (the limit of ANALYZER_TIMEOUT_SECONDS). */
const REQUEST_BUDGET_SECONDS = 55;

function fatal(code: number, message: string): never {
  process.stderr.write(`codedetect: ${message}\n`);
  process.exit(code);
}

async function start(config: ServerConfig): Promise<void> {
  const logger = createLogger(config.logLevel);
  // Opening checks the database (SQLite: quick_check; PostgreSQL: connects, TLS verified) and migrates it; a failure stops the start with one line.
  const { store, backend } = await openConfiguredStore(config, logger).catch((error: Error) => fatal(1, error.message));
  const files = await openFileStore(uploadsDir(config.dataDir)).catch((error: Error) =>
    fatal(1, `cannot use the uploads directory under ${config.dataDir}: ${error.message}`),
  );
  const analyzers = await createAnalyzerPool({
    python: config.analyzerPython,
    workers: config.analyzerWorkers,
    queueLimit: config.analyzerQueue,
    timeoutMs: config.analyzerTimeoutSeconds * 1000,
    // a file slowed by a busy machine may take what is left of the 55 s a request may last after its longest wait
    wallLimitMs: Math.max(config.analyzerTimeoutSeconds, REQUEST_BUDGET_SECONDS - config.analyzerMaxWaitSeconds) * 1000,
    maxWaitMs: config.analyzerMaxWaitSeconds * 1000,
    recycleRssMb: config.analyzerRecycleMb,
    memoryMb: config.analyzerMemoryMb,
    logger,
  });
  const analyzerStatus = analyzers.status();
  if (!analyzerStatus.ok) logger.error({ analyzers: analyzerStatus }, "analyzers missing: health reports it and /api/analyze answers 503");
  const monitor = await startHealthMonitor({
    store,
    backend,
    files,
    analyzers: () => analyzers.status(),
    host: config.deployment.instanceId ?? os.hostname(),
    intervalMs: config.healthIntervalSeconds * 1000,
    // a lock held elsewhere is healthy "busy" for two retry deadlines: past one, uploads get 503; past two, it is stuck
    busyUnhealthyMs: 2 * config.dbBusyRetrySeconds * 1000,
    minFreeBytes: 2 * config.maxUploadBytes,
    logger,
  });
  const stopSweeper = startRetentionSweeper(store, files, config.retentionDays, config.sweepIntervalSeconds * 1000, logger);

  let lifecycle: Lifecycle | undefined;
  const isDraining = () => lifecycle?.isDraining() ?? false;
  const isLeaving = () => lifecycle?.isLeaving() ?? false;
  const { listener, checkContinue } = createServerHandlers({
    config,
    logger,
    store,
    files,
    service: createAnalysisService({ store, files, analyzers, logger, timeouts: new TimeoutMemory(config.analyzerTimeoutMemorySeconds, undefined, config.analyzerTimeoutSeconds) }),
    monitor,
    web: loadStaticFiles(path.join(here, "web")),
    isDraining,
    isLeaving,
    analyzersRefuse: () => {
      const { running, waiting, workers, queueLimit } = analyzers.status();
      return running + waiting >= workers + queueLimit ? "Server busy: too many analyses waiting; try again shortly" : null;
    },
  });
  // idle connections outlive the load balancer's idle timeout: the balancer closes them, never the server (no 502 race)
  const timeouts = serverTimeouts(config.loadBalancerIdleTimeoutSeconds);
  // requireHostHeader: the listener answers a missing Host itself, in JSON (Node's own answer has no body)
  const server = http.createServer({ ...timeouts, requireHostHeader: false }, listener);
  server.on(
    "clientError",
    createClientErrorHandler({ logger, maxHeaderBytes: http.maxHeaderSize, headersTimeoutMs: timeouts.headersTimeout, requestTimeoutMs: timeouts.requestTimeout }),
  );
  server.on("checkContinue", checkContinue);
  server.on("checkExpectation", createExpectationRefusal(logger));
  server.on("connect", createConnectRefusal(logger));
  lifecycle = createLifecycle({
    server,
    logger,
    drainMs: config.drainSeconds * 1000,
    inFlightGraceMs: (config.analyzerTimeoutSeconds + 10) * 1000,
    release: async () => {
      stopSweeper();
      monitor.stop();
      await analyzers.close();
      await store.close();
    },
    // the last log lines ("stopped") must reach stdout before the process ends
    exit: (code) => exitAfterLog(logger, code),
  });
  for (const signal of STOP_SIGNALS) process.off(signal, stopDuringStartUp);
  process.on("SIGTERM", () => void lifecycle?.shutdown("SIGTERM"));
  process.on("SIGINT", () => void lifecycle?.shutdown("SIGINT", 0));
  // a closed terminal or ssh session (SIGHUP) stops the server as SIGTERM does, not by Node's default instant exit
  process.on("SIGHUP", () => void lifecycle?.shutdown("SIGHUP"));
  // an in-place update (compose/swap.ts): the new version serves the shared port, this one hands it over and ends
  process.on("SIGUSR2", () => void lifecycle?.shutdown("SIGUSR2", HANDOVER_MS, true));

  const descriptors = watchDescriptors(logger);
  let listening = false;
  server.on("error", (error: NodeJS.ErrnoException) => {
    // once listening, an error here is an accept that failed (out of descriptors): logged, and the server goes on
    if (listening) {
      if (error.code === "EMFILE" || error.code === "ENFILE") descriptors.report(error, "a connection could not be accepted");
      else logger.error({ err: error.message, code: error.code }, "server error; still listening");
      return;
    }
    const reason = error.code === "EADDRINUSE" ? `port ${config.port} on ${config.host} is already in use (set PORT)` : error.message;
    fatal(1, `cannot listen: ${reason}`);
  });
  if (config.healthSocket) await listenOnHealthSocket(config.healthSocket, listener, logger);
  // Beside another version on a shared port (REUSE_PORT), joining the port is taking traffic: join only once healthy.
  if (config.reusePort) await untilHealthy(monitor, logger, isDraining);
  if (isDraining()) return;
  server.listen({ port: config.port, host: config.host, reusePort: config.reusePort }, () => {
    listening = true;
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : config.port;
    logger.info({ host: config.host, port, reuse_port: config.reusePort, data_dir: config.dataDir, database: backend, version: config.version, analyzers_ok: analyzerStatus.ok, keep_alive_seconds: timeouts.keepAliveTimeout / 1000, malloc_mmap_threshold: mmapThreshold() }, "listening");
  });
}

/** The container's own health check reaches this process here (a stale socket from a killed predecessor is replaced). It closes with the process. */
async function listenOnHealthSocket(socket: string, listener: http.RequestListener, logger: ReturnType<typeof createLogger>): Promise<void> {
  await fs.rm(socket, { force: true });
  const server = http.createServer({ requireHostHeader: false }, listener);
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error) => reject(new Error(`cannot listen on the health socket ${socket}: ${error.message}`)));
    server.listen(socket, () => resolve());
  }).catch((error: Error) => fatal(1, error.message));
  server.unref();
  logger.info({ socket }, "health socket listening");
}

/** Waits for the health monitor's checks to pass (logged once while they do not); a stop signal meanwhile ends the wait. */
async function untilHealthy(monitor: { refresh(): Promise<{ ok: boolean; checksJson: string }> }, logger: ReturnType<typeof createLogger>, stopping: () => boolean): Promise<void> {
  let said = false;
  for (;;) {
    const snapshot = await monitor.refresh();
    if (snapshot.ok || stopping()) return;
    if (!said) logger.warn({ checks: JSON.parse(snapshot.checksJson) as unknown }, "not healthy yet: the shared port is joined once the checks pass");
    said = true;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

/**
 * A stop before the server listens (a deploy rolled back while this version was still warming up): nothing is served
 * yet, so it ends at once, but says so; Node's default would end it without a word. The analyzer processes follow
 * their parent out, and their scratch directory is cleared by the next start.
 */
const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR2"] as const;
/** How long a handover (SIGUSR2) closes each connection after its response before the listener closes. */
const HANDOVER_MS = 1500;
function stopDuringStartUp(signal: NodeJS.Signals): void {
  fatal(0, `stopped by ${signal} during start-up, before serving`);
}
for (const signal of STOP_SIGNALS) process.on(signal, stopDuringStartUp);

let config: ServerConfig;
try {
  config = loadConfig(process.env, packageVersion());
} catch (error) {
  if (error instanceof ConfigError) fatal(2, `configuration error: ${error.message}`);
  throw error;
}
await start(config);

// Starts the CodeDetect server: `PORT=… DATA_DIR=… npm run server`. Config errors exit 2, start failures exit 1, one line each.
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createAnalysisService } from "./analysis-service.ts";
import { createAnalyzerPool, TimeoutMemory } from "./analyzers/index.ts";
import { createServerHandlers } from "./app.ts";
import { ConfigError, loadConfig, type ServerConfig } from "./config.ts";
import { startHealthMonitor } from "./health/monitor.ts";
import { createClientErrorHandler } from "./http/client-error.ts";
import { serverTimeouts } from "./http/keep-alive.ts";
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
    maxWaitMs: config.analyzerMaxWaitSeconds * 1000,
    recycleRssMb: config.analyzerRecycleMb,
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
  const { listener, checkContinue } = createServerHandlers({
    config,
    logger,
    store,
    service: createAnalysisService({ store, files, analyzers, logger, timeouts: new TimeoutMemory(config.analyzerTimeoutMemorySeconds) }),
    monitor,
    web: loadStaticFiles(path.join(here, "web")),
    isDraining,
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

  server.on("error", (error: NodeJS.ErrnoException) => {
    const reason = error.code === "EADDRINUSE" ? `port ${config.port} on ${config.host} is already in use (set PORT)` : error.message;
    fatal(1, `cannot listen: ${reason}`);
  });
  server.listen(config.port, config.host, () => {
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : config.port;
    logger.info({ host: config.host, port, data_dir: config.dataDir, database: backend, version: config.version, analyzers_ok: analyzerStatus.ok, keep_alive_seconds: timeouts.keepAliveTimeout / 1000 }, "listening");
  });
}

/**
 * A stop before the server listens (a deploy rolled back while this version was still warming up): nothing is served
 * yet, so it ends at once, but says so; Node's default would end it without a word. The analyzer processes follow
 * their parent out, and their scratch directory is cleared by the next start.
 */
const STOP_SIGNALS = ["SIGTERM", "SIGINT", "SIGHUP"] as const;
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

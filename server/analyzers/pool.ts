// The analyzer pool: warm lanes, a bounded queue shared fairly between clients in front of them, status for health, close.
import { rm } from "node:fs/promises";
import { AnalyzerUnavailableError, QueueFullError } from "./errors.ts";
import { FairQueue, type QueuedJob } from "./fair-queue.ts";
import { chooseInterpreter, DEFAULT_INTERPRETERS } from "./interpreter.ts";
import { Lane } from "./lane.ts";
import { clearStaleScratch, createScratch } from "./scratch.ts";
import { toolFileName } from "./tool-file-name.ts";
import {
  TOOL_NAMES,
  type AnalyzeInput,
  type AnalyzerLogger,
  type AnalyzerPool,
  type AnalyzerPoolOptions,
  type AnalyzerStatus,
  type ToolName,
  type ToolOutputs,
  type ToolStatus,
} from "./types.ts";

interface Job extends QueuedJob {
  queuedAt: number;
  /** Set when a lane takes it: a job not started on arrival has to wait. */
  started?: boolean;
  input: AnalyzeInput;
  resolve(outputs: ToolOutputs): void;
  reject(error: unknown): void;
}

const silentLogger: AnalyzerLogger = { info() {}, warn() {}, error() {} };

function checkOptions(opts: AnalyzerPoolOptions): void {
  const whole = (value: number, min: number) => Number.isInteger(value) && value >= min;
  if (!whole(opts.workers, 1)) throw new RangeError(`workers must be a whole number >= 1 (got ${opts.workers})`);
  if (!whole(opts.queueLimit, 0)) throw new RangeError(`queueLimit must be a whole number >= 0 (got ${opts.queueLimit})`);
  if (!(opts.timeoutMs > 0)) throw new RangeError(`timeoutMs must be > 0 (got ${opts.timeoutMs})`);
  if (opts.memoryMb !== undefined && !whole(opts.memoryMb, 64)) throw new RangeError(`memoryMb must be a whole number >= 64 (got ${opts.memoryMb})`);
}

/** Per tool: what the workers found at start (version, or why it cannot run). */
function toolStatuses(lanes: Lane[], fallbackError: string | null): Record<ToolName, ToolStatus> {
  const statuses = {} as Record<ToolName, ToolStatus>;
  for (const tool of TOOL_NAMES) {
    const workers = lanes.map((lane) => lane.workers[tool]);
    const conditions = workers.map((worker) => worker.condition());
    const failed = conditions.find((condition) => condition.state === "failed") ?? conditions.find((condition) => condition.state === "restarting");
    const version = workers.find((worker) => worker.version)?.version;
    const error = failed?.error ?? (workers.length === 0 ? (fallbackError ?? undefined) : undefined);
    const restarting = conditions.filter((condition) => condition.state === "restarting").length;
    statuses[tool] = {
      ok: !error,
      ...(restarting > 0 ? { state: "restarting" as const, detail: `${restarting} of ${workers.length} ${tool} processes being replaced: ${failed?.error}` } : {}),
      ...(version ? { version } : {}),
      ...(error ? { error } : {}),
    };
  }
  return statuses;
}

export async function createAnalyzerPool(opts: AnalyzerPoolOptions): Promise<AnalyzerPool> {
  checkOptions(opts);
  const logger = opts.logger ?? silentLogger;
  const { workers, queueLimit, timeoutMs } = opts;
  const python = opts.python ?? (await chooseInterpreter());
  const stale = await clearStaleScratch();
  if (stale.length > 0) logger.info({ directories: stale.length }, "removed temporary directories of analyzers whose server has ended");
  const scratch = await createScratch();
  const laneOptions = { python: python ?? "", logger, scratchDir: scratch, recycleRssMb: opts.recycleRssMb, memoryMb: opts.memoryMb, restartDelayMs: opts.restartDelayMs };
  const lanes = python ? Array.from({ length: workers }, () => new Lane(laneOptions)) : [];
  await Promise.all(lanes.map((lane) => lane.start()));

  const noPython = python ? null : `no Python interpreter found (tried ${DEFAULT_INTERPRETERS.join(", ")})`;
  const startup = toolStatuses(lanes, noPython);
  const problems = TOOL_NAMES.flatMap((tool) => (startup[tool].error ? [startup[tool].error] : []));
  /** Set when a tool cannot run at all: the pool then answers every job with it. */
  const unavailable = problems.length > 0 ? [...new Set(problems)].join("; ") : null;
  const failedTools = TOOL_NAMES.filter((tool) => startup[tool].error);
  const unavailablePublic = python ? `${failedTools.join(", ")} cannot run on this server` : "no Python interpreter with the analyzers was found on this server";
  if (unavailable) {
    logger.error({ python, tools: startup }, `analyzers unavailable: ${unavailable}`);
    await Promise.all(lanes.map((lane) => lane.stop())); // keep no half-working processes
  } else {
    logger.info({ python, workers, queueLimit, timeoutMs, memoryMb: opts.memoryMb ?? null, versions: Object.fromEntries(TOOL_NAMES.map((t) => [t, startup[t].version])) }, "analyzers warm");
  }

  const laneCap = opts.clientLanes ?? Math.max(1, workers - 1);
  const queue = new FairQueue<Job>(laneCap);
  const freeLanes = [...lanes];
  const running = new Set<Promise<unknown>>();
  let closed = false;
  let seq = 0;

  const maxWaitMs = opts.maxWaitMs ?? Infinity;
  const limits = { cpuMs: timeoutMs, wallMs: Math.max(timeoutMs, opts.wallLimitMs ?? timeoutMs) };
  const runJob = async (job: Job, lane: Lane): Promise<ToolOutputs> => {
    const waited = performance.now() - job.queuedAt;
    // (with maxWaitMs 0 a job never waits: it is refused on arrival below, so one taken by a lane at once runs)
    if (maxWaitMs > 0 && waited > maxWaitMs) {
      throw new QueueFullError(`waited ${Math.round(waited / 1000)} s for a free analyzer (limit ${Math.round(maxWaitMs / 1000)} s)`);
    }
    const started = performance.now();
    const { input } = job;
    const { outputs, runs } = await lane.analyze(input, toolFileName(input.filename), limits);
    const tools = Object.fromEntries(
      TOOL_NAMES.map((t) => [t, { ms: Math.round(runs[t].finished - runs[t].started), cpuMs: Math.round(runs[t].cpuMs), started: runs[t].started, finished: runs[t].finished }]),
    );
    logger.info({ bytes: input.source?.length ?? Buffer.byteLength(input.code), ms: Math.round(performance.now() - started), tools }, "analysis finished");
    return outputs;
  };

  /** Starts waiting jobs on free lanes, fairest first; called whenever a job arrives or a lane frees up. */
  const dispatch = (): void => {
    while (freeLanes.length > 0) {
      const job = queue.take();
      if (!job) return;
      // a lane whose process is being replaced after failed attempts would refuse the job (503): another one takes it
      const ready = freeLanes.findLastIndex((free) => !free.restarting());
      const lane = freeLanes.splice(ready === -1 ? freeLanes.length - 1 : ready, 1)[0]!;
      job.started = true;
      const run = runJob(job, lane).then(job.resolve, job.reject).finally(() => {
        freeLanes.push(lane);
        queue.done(job);
        running.delete(run);
        if (!closed) dispatch();
      });
      running.add(run);
    }
  };

  return {
    async analyze(input: AnalyzeInput): Promise<ToolOutputs> {
      if (closed) throw new AnalyzerUnavailableError("the analyzer pool is closed");
      if (unavailable) throw new AnalyzerUnavailableError(unavailable, unavailablePublic);
      if (queue.running + queue.waiting >= workers + queueLimit) {
        throw new QueueFullError(`analysis queue is full: ${workers} running, ${queueLimit} waiting`);
      }
      return new Promise<ToolOutputs>((resolve, reject) => {
        const job: Job = { client: input.client ?? "", seq: seq++, queuedAt: performance.now(), input, resolve, reject };
        queue.push(job);
        dispatch();
        // maxWaitMs 0: no waiting in the line; an idle lane is used at once, else the job is refused at once
        if (maxWaitMs === 0 && !job.started) {
          queue.remove(job);
          reject(new QueueFullError("no analyzer is free and jobs do not wait (ANALYZER_MAX_WAIT_SECONDS=0)"));
        }
      });
    },

    status(): AnalyzerStatus {
      const tools = unavailable ? startup : toolStatuses(lanes, null);
      const ok = !closed && !unavailable && TOOL_NAMES.every((tool) => tools[tool].ok);
      return { ok, python, tools, running: queue.running, waiting: queue.waiting, queueLimit, workers };
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      for (const job of queue.clear()) job.reject(new AnalyzerUnavailableError("the analyzer pool is closed"));
      await Promise.allSettled([...running]); // running jobs finish, each within its timeout
      await Promise.all(lanes.map((lane) => lane.stop()));
      await rm(scratch, { recursive: true, force: true }).catch(() => {});
      logger.info({}, "analyzers stopped");
    },
  };
}

// One warm Python process running one tool (worker.py): spawn and warm-up, one job at a time with a CPU-judged timeout and a memory ceiling, replacement with retries when it dies.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import pRetry from "p-retry";
import { processCpuMs } from "./cpu-time.ts";
import { AnalyzerFailedError, AnalyzerMemoryError, AnalyzerOverloadedError, AnalyzerTimeoutError, AnalyzerUnavailableError } from "./errors.ts";
import { makeWorkerDirectory } from "./scratch.ts";
import type { AnalyzerLogger, ToolName } from "./types.ts";
import { PYTHON_FLAGS, WORKER_SCRIPT, type ToolRun, type WorkerReply as Reply } from "./worker-protocol.ts";

export type { ToolRun } from "./worker-protocol.ts";

const WARMUP_TIMEOUT_MS = 60_000;
const STDERR_LINES_KEPT = 20;

/**
 * A worker whose resident memory passes this after a job is replaced by a fresh one. pylint's stays warm by
 * keeping the installed modules that uploads import parsed (about 1 MB each, so a few hundred MB after a
 * varied day); this bounds it in the rare case that uploads import a large part of the installation.
 */
export const RECYCLE_RSS_MB = 512;

/**
 * The time limit is processor time: a job is stopped as the file's fault once its process has spent the limit in CPU,
 * however busy the machine. A job that reaches the wall-clock cap first (the machine was busy: another client's heavy
 * file) is the file's fault only when it had at least this share of the limit in CPU; otherwise it is not blamed.
 */
export const GUILTY_CPU_SHARE = 0.8;
/** How often at most the CPU time of a running job is read (from /proc) once it could have reached its limit. */
const CPU_CHECK_MIN_MS = 100;

/** A job's limits: processor time (the file's cost) and a wall-clock cap (the answer must come in time). */
export interface JobLimits {
  cpuMs: number;
  wallMs: number;
}

/** Backoff between attempts to replace a retired process: forever, from RESTART_MIN_MS doubling up to RESTART_MAX_MS. */
export const RESTART_MIN_MS = 1_000;
export const RESTART_MAX_MS = 30_000;

type WorkerState = "idle" | "starting" | "ready" | "failed" | "stopped";

/** What health shows of one process: failed (cannot start), restarting (a replacement keeps failing; retried), or fine. */
export interface WorkerCondition {
  state: "ok" | "failed" | "restarting";
  error?: string;
}

interface PendingJob {
  id: number;
  resolve(run: ToolRun): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout | undefined;
}

export interface ToolWorkerOptions {
  tool: ToolName;
  python: string;
  logger: AnalyzerLogger;
  /** Resident memory after a job above which the process is replaced (default RECYCLE_RSS_MB). */
  recycleRssMb?: number;
  /** The pool's scratch directory: each process gets its own directory (cwd and home) inside it. */
  scratchDir: string;
  /** Address-space ceiling of the process in MiB (RLIMIT_AS, set by worker.py on itself); absent: none. */
  memoryMb?: number;
  /** First and longest delay between attempts to replace a retired process (default RESTART_MIN_MS, RESTART_MAX_MS). */
  restartDelayMs?: { min: number; max: number };
}

const formatSeconds = (ms: number): string => `${Number((ms / 1000).toFixed(1))} s`;

export class ToolWorker {
  readonly tool: ToolName;
  readonly #python: string;
  readonly #logger: AnalyzerLogger;
  readonly #recycleRssMb: number;
  readonly #scratchDir: string;
  readonly #memoryMb: number | undefined;
  readonly #restartDelayMs: { min: number; max: number };
  /** Aborted by stop(): ends a replacement's retries. */
  readonly #stopped = new AbortController();
  /** A replacement of a retired process under way (retried until it starts), and what its last failed attempt said. */
  #replacing: Promise<void> | null = null;
  #restartProblem: string | null = null;
  /** Removals of exited processes' directories still under way (stop() waits for them). */
  readonly #cleanups = new Set<Promise<void>>();
  #state: WorkerState = "idle";
  #process: ChildProcess | null = null;
  #starting: Promise<void> | null = null;
  #pending: PendingJob | null = null;
  #onReady: ((reply: Reply) => void) | null = null;
  #stderrTail: string[] = [];
  #nextId = 1;
  version: string | undefined;
  /** Why the last start failed (precise: tool, interpreter, cause). */
  error: string | undefined;

  constructor(options: ToolWorkerOptions) {
    this.tool = options.tool;
    this.#python = options.python;
    this.#logger = options.logger;
    this.#recycleRssMb = options.recycleRssMb ?? RECYCLE_RSS_MB;
    this.#scratchDir = options.scratchDir;
    this.#memoryMb = options.memoryMb;
    this.#restartDelayMs = options.restartDelayMs ?? { min: RESTART_MIN_MS, max: RESTART_MAX_MS };
  }

  /** For health: a replacement that keeps failing is "restarting" (with why and when it is tried again), not silently down. */
  condition(): WorkerCondition {
    if (this.#state === "ready") return { state: "ok" };
    if (this.#restartProblem !== null) return { state: "restarting", error: this.#restartProblem };
    if (this.#state === "failed") return { state: "failed", error: this.error };
    return { state: "ok" };
  }

  get state(): WorkerState {
    return this.#state;
  }

  get pid(): number | undefined {
    return this.#process?.pid;
  }

  /** Starts the process unless it runs; resolves once the tool is imported and warm. Between a replacement's retries it refuses at once. */
  start(): Promise<void> {
    if (this.#state === "stopped") return Promise.reject(new AnalyzerUnavailableError("the analyzer pool is closed"));
    if (this.#state === "ready") return Promise.resolve();
    if (!this.#starting && this.#restartProblem !== null) {
      return Promise.reject(new AnalyzerUnavailableError(`${this.tool} is restarting: ${this.#restartProblem}`, `${this.tool} is restarting on this server`));
    }
    return this.#attempt();
  }

  #attempt(): Promise<void> {
    this.#starting ??= this.#spawn().finally(() => {
      this.#starting = null;
    });
    return this.#starting;
  }

  /**
   * Replaces a retired process: attempts until one starts, with backoff (a transient failure, such as the server being
   * out of file descriptors for a moment, must not leave the lane down until an upload happens to land on it).
   */
  #replace(): void {
    if (this.#replacing || this.#state === "stopped") return;
    const { min, max } = this.#restartDelayMs;
    this.#replacing = pRetry(() => this.#attempt(), {
      retries: Infinity,
      minTimeout: min,
      maxTimeout: max,
      factor: 2,
      signal: this.#stopped.signal,
      onFailedAttempt: ({ error, attemptNumber, retryDelay }) => {
        this.#restartProblem = `attempt ${attemptNumber} to replace it failed (${error.message}); next attempt in ${formatSeconds(retryDelay)}`;
        this.#logger.error({ tool: this.tool, attempt: attemptNumber, retry_in_ms: retryDelay, err: error.message }, "analyzer worker could not be replaced; retrying");
      },
    })
      .then(() => {
        if (this.#restartProblem !== null) this.#logger.info({ tool: this.tool }, "analyzer worker replaced after failed attempts");
      })
      .catch(() => {}) // only stop() ends the retries
      .finally(() => {
        this.#restartProblem = null;
        this.#replacing = null;
      });
  }

  /** Runs the tool on one file; rejects with AnalyzerFailedError when it times out, crashes or raises. */
  async run(source: Uint8Array, filename: string, limits: JobLimits): Promise<ToolRun> {
    await this.start();
    const child = this.#process;
    if (!child || this.#pending) throw new Error(`${this.tool} worker is not idle`); // the pool never does this
    const id = this.#nextId++;
    this.#stderrTail = []; // what the log tells about this job is this job's
    const cpuAtStart = processCpuMs(child.pid);
    const startedAt = performance.now();
    return new Promise<ToolRun>((resolve, reject) => {
      const job: PendingJob = { id, resolve, reject, timer: undefined };
      // the process cannot spend more CPU than the wall clock runs (one thread at a time under the GIL): the first
      // look is at the limit, the next when the CPU still missing could have been spent
      const check = () => {
        const verdict = this.#limitVerdict(child, cpuAtStart, performance.now() - startedAt, limits);
        if (verdict instanceof Error) {
          this.#settle(id, verdict);
          this.#retire(child);
        } else if (this.#pending === job) {
          job.timer = setTimeout(check, verdict);
        }
      };
      job.timer = setTimeout(check, Math.min(limits.cpuMs, limits.wallMs));
      this.#pending = job;
      // the bytes as uploaded (base64): a file in a declared encoding reaches the tools unchanged
      child.stdin?.write(`${JSON.stringify({ id, source: Buffer.from(source).toString("base64"), filename })}\n`);
    });
  }

  /**
   * A running job against its limits, by the CPU time its process spent on it (from /proc): the file's fault once it
   * used the CPU limit; at the wall-clock cap, the file's fault only if it kept the process busy, else the machine's
   * (not blamed). Otherwise: how long until the next look. Where CPU time cannot be read, the wall clock judges.
   */
  #limitVerdict(child: ChildProcess, cpuAtStart: number | null, elapsedMs: number, limits: JobLimits): Error | number {
    const cpuNow = processCpuMs(child.pid);
    const used = cpuAtStart === null || cpuNow === null ? elapsedMs : cpuNow - cpuAtStart;
    const timedOut = () => new AnalyzerTimeoutError(`${this.tool} ran into the ${formatSeconds(limits.cpuMs)} time limit on this file`);
    if (used >= limits.cpuMs) return timedOut();
    if (elapsedMs < limits.wallMs) return Math.min(Math.max(CPU_CHECK_MIN_MS, limits.cpuMs - used), limits.wallMs - elapsedMs);
    if (used >= limits.cpuMs * GUILTY_CPU_SHARE) return timedOut();
    this.#logger.warn({ tool: this.tool, cpu_ms: Math.round(used), limit_ms: limits.cpuMs, wall_ms: Math.round(elapsedMs) }, "analysis cut off while the machine was busy; the file is not blamed");
    return new AnalyzerOverloadedError(
      `${this.tool} had only ${formatSeconds(used)} of processor time in ${formatSeconds(elapsedMs)}, short of its ${formatSeconds(limits.cpuMs)} limit: the server was busy`,
    );
  }

  /** Stops the process for good; a running job is rejected. Resolves once its directories are removed. */
  async stop(): Promise<void> {
    this.#state = "stopped";
    this.#stopped.abort();
    const child = this.#process;
    if (this.#pending) this.#settle(this.#pending.id, new AnalyzerUnavailableError("the analyzer pool is closed"));
    if (child) {
      const running = child.pid !== undefined && child.exitCode === null && child.signalCode === null;
      const exited = running ? once(child, "exit").catch(() => {}) : Promise.resolve();
      child.kill("SIGKILL");
      await exited;
    }
    await this.#starting?.catch(() => {}); // a start under way gives up (its process is killed, its directory removed)
    await this.#replacing;
    await Promise.all([...this.#cleanups]);
  }

  #settle(id: number, outcome: ToolRun | Error): void {
    const job = this.#pending;
    if (!job || job.id !== id) return;
    this.#pending = null;
    clearTimeout(job.timer);
    if (outcome instanceof Error) job.reject(outcome);
    else job.resolve(outcome);
  }

  async #spawn(): Promise<void> {
    this.#state = "starting";
    this.#stderrTail = [];
    let root: string, cwd: string, home: string;
    try {
      ({ root, cwd, home } = await makeWorkerDirectory(this.#scratchDir, this.tool));
    } catch (error) {
      const failure = new AnalyzerUnavailableError(`${this.tool} cannot get a working directory: ${(error as Error).message}`, this.#cannotRun());
      if (this.#state === "starting") {
        this.#state = "failed";
        this.error = failure.message;
      }
      throw failure;
    }
    if (this.#state !== "starting") {
      await rm(root, { recursive: true, force: true });
      throw new AnalyzerUnavailableError("the analyzer pool is closed");
    }
    // TMPDIR too: whatever a tool puts in a temporary file stays inside this directory, removed with it
    const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, XDG_CACHE_HOME: home, PYLINTHOME: home, TMPDIR: home, LANG: "C.UTF-8", LC_ALL: "C.UTF-8" };
    // detached: its own process group, so that a signal to the server's group (systemd's stop, Ctrl-C) does not
    // cut the analyses the drain lets finish; the server ends it after the drain, and it exits by itself when
    // the server dies (worker.py watches its parent)
    const args = [...PYTHON_FLAGS, WORKER_SCRIPT, "--tool", this.tool, ...(this.#memoryMb ? ["--memory-mb", String(this.#memoryMb)] : [])];
    // one malloc arena: under an address-space ceiling, glibc's per-thread arenas would reserve space the tool never uses
    const child = spawn(this.#python, args, { cwd, env: { ...env, MALLOC_ARENA_MAX: "1" }, stdio: ["pipe", "pipe", "pipe"], detached: true });
    this.#process = child;
    // The error listener comes first: out of file descriptors, spawn() returns a child without pipes and emits
    // "error" on the next tick; an error event without a listener would end the server.
    const gone = new Promise<Error>((resolve) => {
      child.on("error", (error: NodeJS.ErrnoException) => {
        const why = error.code === "ENOENT" ? "not found" : `cannot be started (${error.message}${error.code === "EMFILE" || error.code === "ENFILE" ? ": the server is out of file descriptors" : ""})`;
        resolve(new AnalyzerUnavailableError(`Python interpreter ${this.#python} ${why}, so ${this.tool} cannot run`, this.#cannotRun()));
        void this.#onExit(child, root, null, null);
      });
      child.on("exit", (code, signal) => {
        resolve(new AnalyzerUnavailableError(`${this.tool} worker under ${this.#python} exited before it was ready (${signal ?? `exit code ${code}`})${this.#stderrSuffix()}`, this.#cannotRun()));
        void this.#onExit(child, root, code, signal);
      });
    });
    if (child.stdin && child.stdout && child.stderr) {
      child.stdin.on("error", () => {}); // a dead worker is handled by its exit event
      createInterface({ input: child.stdout }).on("line", (line) => this.#onLine(line));
      createInterface({ input: child.stderr }).on("line", (line) => {
        this.#stderrTail.push(line);
        if (this.#stderrTail.length > STDERR_LINES_KEPT) this.#stderrTail.shift();
      });
    }

    let timer: NodeJS.Timeout | undefined;
    try {
      const reply = await Promise.race([
        new Promise<Reply>((resolve) => {
          this.#onReady = resolve;
        }),
        gone.then((error) => Promise.reject(error)),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            reject(new AnalyzerUnavailableError(`${this.tool} did not get ready within ${WARMUP_TIMEOUT_MS} ms under ${this.#python}${this.#stderrSuffix()}`, this.#cannotRun()));
          }, WARMUP_TIMEOUT_MS);
        }),
      ]);
      if (!reply.ready) throw new AnalyzerUnavailableError(`${this.tool} ${reply.reason ?? "cannot run"} for ${this.#python}: ${reply.detail ?? "no detail"}`, this.#cannotRun(reply.reason));
      if (this.#state !== "starting") throw new AnalyzerUnavailableError("the analyzer pool is closed");
      this.version = reply.version;
      this.error = undefined;
      this.#state = "ready";
    } catch (error) {
      if (this.#state === "starting") {
        this.#state = "failed";
        this.error = (error as Error).message;
      }
      this.#retire(child);
      throw error;
    } finally {
      clearTimeout(timer);
      this.#onReady = null;
    }
  }

  #onLine(line: string): void {
    let reply: Reply;
    try {
      reply = JSON.parse(line) as Reply;
    } catch {
      this.#logger.warn({ tool: this.tool, line: line.slice(0, 200) }, "analyzer worker wrote a line that is not JSON");
      return;
    }
    if (reply.ready !== undefined) {
      this.#onReady?.(reply);
      return;
    }
    if (reply.id === undefined) return;
    if (reply.memoryLimit) {
      this.#logger.warn({ tool: this.tool, peak_mb: reply.peakMb, limit_mb: this.#memoryMb }, "analyzer ran into its memory ceiling; replacing it");
      this.#settle(reply.id, new AnalyzerMemoryError(`${this.tool} ran into the ${this.#memoryMb} MB memory limit on this file`));
      if (this.#process) this.#retire(this.#process); // after a MemoryError its state is not to be trusted
    } else if (reply.ok) {
      this.#settle(reply.id, { result: reply.result, started: reply.started ?? 0, finished: reply.finished ?? 0, cpuMs: reply.cpuMs ?? 0 });
      if ((reply.rssMb ?? 0) > this.#recycleRssMb && this.#process) {
        this.#logger.info({ tool: this.tool, rssMb: Math.round(reply.rssMb ?? 0) }, "analyzer worker grew too big; replacing it");
        this.#retire(this.#process);
      }
    } else {
      // the tool's own error (and its traceback on stderr) may name server paths: the log gets it, the answer does not
      this.#logger.warn({ tool: this.tool, err: reply.error, stderr: this.#stderrTail.slice(-5) }, "analyzer tool failed on a file");
      this.#settle(reply.id, new AnalyzerFailedError(`${this.tool} failed on this file`));
    }
  }

  /** Takes a process out of service and kills it; a warm one that is retired is replaced at once. */
  #retire(child: ChildProcess): void {
    if (this.#process === child) {
      this.#process = null;
      if (this.#state === "ready") {
        this.#state = "idle";
        this.#replace();
      }
    }
    child.kill("SIGKILL");
  }

  async #onExit(child: ChildProcess, root: string, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.#process === child) {
      const running = this.#pending;
      if (running) {
        this.#logger.warn({ tool: this.tool, code, signal, stderr: this.#stderrTail.slice(-5) }, "analyzer worker crashed during a job");
        this.#settle(running.id, new AnalyzerFailedError(`${this.tool} crashed on this file`));
      }
      else if (this.#state === "ready") this.#logger.warn({ tool: this.tool, code, signal, stderr: this.#stderrTail.slice(-5) }, "analyzer worker exited while idle; starting a new one");
      this.#retire(child);
    }
    const cleanup = rm(root, { recursive: true, force: true }).catch(() => {});
    this.#cleanups.add(cleanup);
    await cleanup;
    this.#cleanups.delete(cleanup);
  }

  /** The public form of a start failure: the tool and, when it is that simple, why ("is not installed"). */
  #cannotRun(reason?: string): string {
    return `${this.tool} ${reason === "is not installed" ? reason : "cannot run"} on this server`;
  }

  #stderrSuffix(): string {
    const tail = this.#stderrTail.slice(-5).join("\n").trim();
    return tail ? `: ${tail}` : "";
  }
}

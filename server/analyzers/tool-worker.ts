// One warm Python process running one tool (worker.py): spawn and warm-up, one job at a time with a timeout, replacement when it dies.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import { AnalyzerFailedError, AnalyzerTimeoutError, AnalyzerUnavailableError } from "./errors.ts";
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

type WorkerState = "idle" | "starting" | "ready" | "failed" | "stopped";

interface PendingJob {
  id: number;
  resolve(run: ToolRun): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export interface ToolWorkerOptions {
  tool: ToolName;
  python: string;
  logger: AnalyzerLogger;
  /** Resident memory after a job above which the process is replaced (default RECYCLE_RSS_MB). */
  recycleRssMb?: number;
  /** The pool's scratch directory: each process gets its own directory (cwd and home) inside it. */
  scratchDir: string;
}

const formatSeconds = (ms: number): string => `${Number((ms / 1000).toFixed(1))} s`;

export class ToolWorker {
  readonly tool: ToolName;
  readonly #python: string;
  readonly #logger: AnalyzerLogger;
  readonly #recycleRssMb: number;
  readonly #scratchDir: string;
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
  }

  get state(): WorkerState {
    return this.#state;
  }

  get pid(): number | undefined {
    return this.#process?.pid;
  }

  /** Starts the process unless it runs; resolves once the tool is imported and warm. */
  start(): Promise<void> {
    if (this.#state === "stopped") return Promise.reject(new AnalyzerUnavailableError("the analyzer pool is closed"));
    if (this.#state === "ready") return Promise.resolve();
    this.#starting ??= this.#spawn().finally(() => {
      this.#starting = null;
    });
    return this.#starting;
  }

  /** Runs the tool on one file; rejects with AnalyzerFailedError when it times out, crashes or raises. */
  async run(source: Uint8Array, filename: string, timeoutMs: number): Promise<ToolRun> {
    await this.start();
    const child = this.#process;
    if (!child || this.#pending) throw new Error(`${this.tool} worker is not idle`); // the pool never does this
    const id = this.#nextId++;
    this.#stderrTail = []; // what the log tells about this job is this job's
    return new Promise<ToolRun>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settle(id, new AnalyzerTimeoutError(`${this.tool} ran into the ${formatSeconds(timeoutMs)} time limit on this file`));
        this.#retire(child);
      }, timeoutMs);
      this.#pending = { id, resolve, reject, timer };
      // the bytes as uploaded (base64): a file in a declared encoding reaches the tools unchanged
      child.stdin?.write(`${JSON.stringify({ id, source: Buffer.from(source).toString("base64"), filename })}\n`);
    });
  }

  /** Stops the process for good; a running job is rejected. Resolves once its directories are removed. */
  async stop(): Promise<void> {
    this.#state = "stopped";
    const child = this.#process;
    if (this.#pending) this.#settle(this.#pending.id, new AnalyzerUnavailableError("the analyzer pool is closed"));
    if (child) {
      const running = child.pid !== undefined && child.exitCode === null && child.signalCode === null;
      const exited = running ? once(child, "exit").catch(() => {}) : Promise.resolve();
      child.kill("SIGKILL");
      await exited;
    }
    await this.#starting?.catch(() => {}); // a start under way gives up (its process is killed, its directory removed)
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
    const child = spawn(this.#python, [...PYTHON_FLAGS, WORKER_SCRIPT, "--tool", this.tool], { cwd, env, stdio: ["pipe", "pipe", "pipe"], detached: true });
    this.#process = child;
    child.stdin.on("error", () => {}); // a dead worker is handled by its exit event
    createInterface({ input: child.stdout }).on("line", (line) => this.#onLine(line));
    createInterface({ input: child.stderr }).on("line", (line) => {
      this.#stderrTail.push(line);
      if (this.#stderrTail.length > STDERR_LINES_KEPT) this.#stderrTail.shift();
    });
    const gone = new Promise<Error>((resolve) => {
      child.on("error", (error: NodeJS.ErrnoException) => {
        const why = error.code === "ENOENT" ? "not found" : `cannot be started (${error.message})`;
        resolve(new AnalyzerUnavailableError(`Python interpreter ${this.#python} ${why}, so ${this.tool} cannot run`, this.#cannotRun()));
        void this.#onExit(child, root, null, null);
      });
      child.on("exit", (code, signal) => {
        resolve(new AnalyzerUnavailableError(`${this.tool} worker under ${this.#python} exited before it was ready (${signal ?? `exit code ${code}`})${this.#stderrSuffix()}`, this.#cannotRun()));
        void this.#onExit(child, root, code, signal);
      });
    });

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
    if (reply.ok) {
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
        this.start().catch((error: Error) => this.#logger.error({ tool: this.tool, err: error.message }, "analyzer worker could not be replaced"));
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

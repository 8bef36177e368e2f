// What the server and worker.py say to each other: how the worker is started, a job's result, the lines it writes back.
import { fileURLToPath } from "node:url";

export const WORKER_SCRIPT = fileURLToPath(new URL("./worker.py", import.meta.url));
/** -I: no user site, no PYTHON* variables, no script directory on sys.path; -B: no .pyc; -X utf8: UTF-8 stdio. */
export const PYTHON_FLAGS = ["-I", "-B", "-X", "utf8"];

export interface ToolRun {
  result: unknown;
  /** Wall-clock times (ms since the epoch) measured inside the Python process. */
  started: number;
  finished: number;
  /** CPU time the process spent on the job (tells a slow file from a busy machine). */
  cpuMs: number;
}

/** One line from the worker: its ready message, or the answer to job `id`. */
export interface WorkerReply {
  id?: number;
  ok?: boolean;
  result?: unknown;
  error?: string;
  started?: number;
  finished?: number;
  cpuMs?: number;
  rssMb?: number;
  /** The job ran into the process's memory ceiling; peakMb: the largest address space it had. */
  memoryLimit?: boolean;
  peakMb?: number;
  ready?: boolean;
  version?: string;
  reason?: string;
  detail?: string;
}

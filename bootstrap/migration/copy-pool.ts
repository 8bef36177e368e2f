// Copies many files with proof, fast: worker threads each copy while hashing (one read of the source), then re-read the copy and compare
// its sha256 (copy-worker.ts), with synchronous I/O into reused buffers. Measured in BENCHMARKS.md against cp -a.
import os from "node:os";
import { startWorker } from "../workers.ts";
import type { CopyJob, CopyResult } from "./copy-worker.ts";

export type { CopyJob, CopyResult } from "./copy-worker.ts";

export interface CopyPoolOptions {
  /** uid and gid for the copies (applied only when running as root); null: the agent's own. */
  owner: number | null;
  workers?: number;
  /** Jobs handed to a worker at a time (fewer messages for many small files). */
  batch?: number;
}

/** Copies every job; `onResult` sees each result in job order within its batch, as batches finish. Resolves when all are done. */
export async function copyAllVerified(jobs: CopyJob[], options: CopyPoolOptions, onResult: (job: CopyJob, result: CopyResult) => void): Promise<void> {
  if (jobs.length === 0) return;
  const batch = options.batch ?? 16;
  const count = Math.max(1, Math.min(options.workers ?? Math.min(4, os.availableParallelism()), Math.ceil(jobs.length / batch)));
  const owner = options.owner !== null && process.getuid?.() === 0 ? options.owner : null;
  // Consecutive batches from different directories: workers creating files in one directory at once contend for its lock.
  const byDir = new Map<string, CopyJob[]>();
  for (const job of jobs) {
    const dir = job.destination.slice(0, job.destination.lastIndexOf("/"));
    if (!byDir.has(dir)) byDir.set(dir, []);
    byDir.get(dir)!.push(job);
  }
  const queues = [...byDir.values()];
  const order: CopyJob[][] = [];
  const longest = Math.max(...queues.map((queue) => queue.length));
  for (let offset = 0; offset < longest; offset += batch) {
    for (const queue of queues) if (offset < queue.length) order.push(queue.slice(offset, offset + batch));
  }
  let next = 0;
  const workers = Array.from({ length: count }, () => startWorker("copy", { owner }));
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            let current: CopyJob[] = [];
            const give = () => {
              current = order[next] ?? [];
              next += 1;
              if (current.length === 0) return resolve();
              worker.postMessage(current);
            };
            worker.on("message", (results: CopyResult[]) => {
              try {
                results.forEach((result, index) => onResult(current[index]!, result));
              } catch (error) {
                return reject(error);
              }
              give();
            });
            worker.on("error", reject);
            worker.on("exit", (code) => (current.length > 0 ? reject(new Error(`a copy worker exited (code ${code}) before its work was done`)) : undefined));
            give();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

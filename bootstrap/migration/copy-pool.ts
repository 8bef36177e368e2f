// Copies many files with proof, fast: worker threads each copy while hashing (one read of the source), then re-read the copy and compare
// its sha256, with synchronous I/O into reused buffers (no per-chunk allocation, no stream machinery). Measured in BENCHMARKS.md against cp -a.
import os from "node:os";
import { Worker } from "node:worker_threads";

export interface CopyJob {
  source: string;
  destination: string;
}

export type CopyResult = { ok: true; sha256: string; size: number } | { ok: false; code: string | null; message: string };

/**
 * The worker's code, self-contained (node: built-ins only) so that it runs the same from the sources and from the one-file bundle.
 * Each job: open the source, read it in pieces of up to 8 MB, hash each piece and write it to a new file (O_EXCL, mode 0600, fchown
 * to the owner when root); then read the copy back from its start and hash it; the copy is good only when both digests are equal.
 */
const WORKER_SOURCE = `
const fs = require("node:fs");
const { createHash } = require("node:crypto");
const { parentPort, workerData } = require("node:worker_threads");
const PIECE = 8 * 1024 * 1024;
let buffer = Buffer.allocUnsafe(1024 * 1024);
const owner = workerData.owner;
function room(size) {
  if (buffer.length < Math.min(size, PIECE)) buffer = Buffer.allocUnsafe(Math.min(Math.max(size, buffer.length * 2), PIECE));
}
function hashFd(fd, write, position) {
  const hash = createHash("sha256");
  let total = 0;
  for (;;) {
    const n = fs.readSync(fd, buffer, 0, buffer.length, position === null ? null : position + total);
    if (n === 0) break;
    const piece = n === buffer.length ? buffer : buffer.subarray(0, n);
    hash.update(piece);
    if (write !== undefined) {
      let written = 0;
      while (written < n) written += fs.writeSync(write, piece, written, n - written);
    }
    total += n;
  }
  return { sha256: hash.digest("hex"), size: total };
}
function copy(job) {
  const input = fs.openSync(job.source, "r");
  let output;
  try {
    room(fs.fstatSync(input).size);
    output = fs.openSync(job.destination, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
  } catch (error) {
    fs.closeSync(input);
    throw error;
  }
  try {
    let copied;
    try {
      copied = hashFd(input, output, null);
    } finally {
      fs.closeSync(input);
    }
    if (owner !== null) fs.fchownSync(output, owner, owner);
    // The copy read back from its start (what the file system now holds) and hashed again.
    const check = hashFd(output, undefined, 0);
    if (check.sha256 !== copied.sha256 || check.size !== copied.size) {
      return { ok: false, code: "EVERIFY", message: "copy of " + job.source + " does not match its source (sha256 " + check.sha256 + " != " + copied.sha256 + ")" };
    }
    return { ok: true, sha256: copied.sha256, size: copied.size };
  } finally {
    fs.closeSync(output);
  }
}
parentPort.on("message", (jobs) => {
  parentPort.postMessage(jobs.map((job) => {
    try {
      return copy(job);
    } catch (error) {
      return { ok: false, code: error.code ?? null, message: error.message };
    }
  }));
});
`;

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
  const workers = Array.from({ length: count }, () => new Worker(WORKER_SOURCE, { eval: true, workerData: { owner } }));
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

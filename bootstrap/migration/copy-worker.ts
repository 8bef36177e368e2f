// The copy pool's worker thread: each job copied while hashed (one read of the source), then the copy read back and hashed again; equal digests or an error.
import { createHash } from "node:crypto";
import fs from "node:fs";
import { parentPort } from "node:worker_threads";
import { metadataRoundTrip } from "./latency.ts";

export interface CopyJob {
  source: string;
  destination: string;
}

export type CopyResult = { ok: true; sha256: string; size: number } | { ok: false; code: string | null; message: string };

export interface CopyWorkerData {
  /** uid and gid for the copies (fchown, root only); null: the agent's own. */
  owner: number | null;
}

/** Pieces of up to 8 MB, read into one buffer reused across jobs (no per-chunk allocation, no stream machinery). */
const PIECE = 8 * 1024 * 1024;

function createCopier(owner: number | null) {
  let buffer = Buffer.allocUnsafe(1024 * 1024);
  const room = (size: number) => {
    if (buffer.length < Math.min(size, PIECE)) buffer = Buffer.allocUnsafe(Math.min(Math.max(size, buffer.length * 2), PIECE));
  };
  /** Hashes what `fd` holds (from `position`, or its current offset when null), writing each piece to `write` when given. */
  const hashFd = (fd: number, write: number | undefined, position: number | null) => {
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
  };
  return function copy(job: CopyJob): CopyResult {
    metadataRoundTrip();
    const input = fs.openSync(job.source, "r");
    let output: number;
    try {
      room(fs.fstatSync(input).size);
      metadataRoundTrip();
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
        return { ok: false, code: "EVERIFY", message: `copy of ${job.source} does not match its source (sha256 ${check.sha256} != ${copied.sha256})` };
      }
      return { ok: true, sha256: copied.sha256, size: copied.size };
    } finally {
      fs.closeSync(output);
    }
  };
}

/** The worker's loop: a batch of jobs in, their results (in order) out; every failure is the job's own result, never the worker's death. */
export function serveCopies(data: CopyWorkerData): void {
  const copy = createCopier(data.owner);
  parentPort!.on("message", (jobs: CopyJob[]) => {
    parentPort!.postMessage(
      jobs.map((job): CopyResult => {
        try {
          return copy(job);
        } catch (error) {
          return { ok: false, code: (error as NodeJS.ErrnoException).code ?? null, message: (error as Error).message };
        }
      }),
    );
  });
}

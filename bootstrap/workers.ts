// The agent's worker threads (the copy pool, the lease renewer) as typed modules, started the same way from the sources and from the one-file bundle.
// From the sources a worker loads this file; from the bundle (/opt/codedetect/agent.mjs) it loads the bundle itself, whose copy of this module
// sees the worker's data and runs the role instead of the CLI (cli.ts runs `main` on the main thread only).
import { isMainThread, Worker, workerData } from "node:worker_threads";
import { serveCopies, type CopyWorkerData } from "./migration/copy-worker.ts";
import { renewLease, type LeaseWorkerData } from "./migration/lease-worker.ts";

interface Roles {
  copy: CopyWorkerData;
  lease: LeaseWorkerData;
}
type Role = keyof Roles;
const KEY = "codedetectAgentWorker";

/** Starts `role` in a new worker thread with its data. */
export function startWorker<R extends Role>(role: R, data: Roles[R]): Worker {
  // This module's own URL: the .ts file from the sources, the bundle when bundled; both dispatch on the worker's data below.
  return new Worker(new URL(import.meta.url), { workerData: { [KEY]: role, data } });
}

const started = !isMainThread && workerData !== null && typeof workerData === "object" && KEY in workerData ? (workerData as { [KEY]: Role; data: unknown }) : null;
if (started?.[KEY] === "copy") serveCopies(started.data as CopyWorkerData);
else if (started?.[KEY] === "lease") renewLease(started.data as LeaseWorkerData);

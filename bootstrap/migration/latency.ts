// Test hook: BOOTSTRAP_TEST_FS_LATENCY_MS=N blocks the calling thread N ms at each metadata operation of the migration, as a slow shared file system (EFS) does.
// A synchronous fs call on NFS holds its thread (and, on the main thread, the event loop) for the server's round trip; Atomics.wait does
// exactly that without spinning, so the lease, the copy workers and the placement are measured under the same stall. Unset: no delay.
const delayMs = Number(process.env.BOOTSTRAP_TEST_FS_LATENCY_MS ?? "0");
const cell = new Int32Array(new SharedArrayBuffer(4));

/** One metadata round trip (open, create, link, unlink, rename, stat, mkdir) to the shared storage. */
export function metadataRoundTrip(): void {
  if (delayMs > 0) Atomics.wait(cell, 0, 0, delayMs);
}

// How the server's memory goes back to the system after a burst of uploads: glibc's malloc told to serve every
// allocation of 16 KiB or more (request bodies, socket reads, answers) from its own mapping, returned when freed.
//
// By default glibc serves them from its main heap, which a burst leaves fragmented and never trims: after 120 held
// uploads of 5 MiB the server kept +120 MiB for good. With the threshold set it comes back to within ~35 MiB of where
// it started, and the peak is no higher (measured in test/server/hostile-memory.test.ts and BENCHMARKS.md). Setting it
// also turns off glibc's sliding threshold, which after one 5 MiB buffer is freed serves the next ones from the heap
// (mallopt(3), M_MMAP_THRESHOLD; https://www.gnu.org/software/libc/manual/html_node/Memory-Allocation-Tunables.html).
// glibc reads it once, at start: it is set in the process's environment (the image's ENV), never from inside.

export const MMAP_THRESHOLD_BYTES = 16 * 1024;

/** The environment that starts the server with the threshold, as the image does (Dockerfile ENV). */
export const MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: String(MMAP_THRESHOLD_BYTES) } as const;

/** The threshold this process started with, or null where glibc slides its own (memory a burst took is kept). */
export function mmapThreshold(env: NodeJS.ProcessEnv = process.env): number | null {
  const value = env.MALLOC_MMAP_THRESHOLD_;
  return value !== undefined && /^\d+$/.test(value) ? Number(value) : null;
}

// The analyzers' temporary directories: one per pool, named after the owning process, removed at close; stale ones of dead servers cleared at start.
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const PREFIX = "codedetect-analyzers-";
/** codedetect-analyzers-<pid>-<start ticks>-<random>: the owner is identified by its pid and its start time. */
const NAME = /^codedetect-analyzers-(\d+)-(\d+)-[A-Za-z0-9]+$/;

/** The start time of a process in clock ticks since boot (field 22 of /proc/PID/stat), or null when it does not exist. */
export function processStartTicks(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? null;
  } catch {
    return null;
  }
}

/** Whether the process that created a scratch directory is gone (a reused pid has another start time). */
function ownerGone(pid: number, startTicks: string): boolean {
  const now = processStartTicks(pid);
  if (now !== null) return now !== startTicks;
  try {
    process.kill(pid, 0); // no /proc (not Linux): the pid alone tells
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/** Removes scratch directories of analyzer pools whose process has ended (after a kill -9); never those of a live server. */
export async function clearStaleScratch(parent = tmpdir()): Promise<string[]> {
  const entries = await readdir(parent, { withFileTypes: true }).catch(() => []);
  const stale = entries.filter((entry) => {
    const match = entry.isDirectory() ? NAME.exec(entry.name) : null;
    return match !== null && ownerGone(Number(match[1]), match[2]!);
  });
  await Promise.all(stale.map((entry) => rm(join(parent, entry.name), { recursive: true, force: true }).catch(() => {})));
  return stale.map((entry) => entry.name);
}

/** A fresh scratch directory for one pool of this process. */
export function createScratch(parent = tmpdir()): Promise<string> {
  return mkdtemp(join(parent, `${PREFIX}${process.pid}-${processStartTicks(process.pid) ?? 0}-`));
}

/**
 * One worker process's own directory inside the pool's: "cwd", an empty private directory (pylint puts it on
 * sys.path), and "home" for the tools' caches and temporary files, never the cwd. The pool's directory is made
 * again if a cleaner of the temporary directory removed it meanwhile.
 */
export async function makeWorkerDirectory(scratchDir: string, tool: string): Promise<{ root: string; cwd: string; home: string }> {
  await mkdir(scratchDir, { recursive: true });
  const root = await mkdtemp(join(scratchDir, `${tool}-`));
  const cwd = join(root, "cwd");
  const home = join(root, "home");
  await Promise.all([mkdir(cwd), mkdir(home)]);
  return { root, cwd, home };
}

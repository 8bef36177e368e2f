// CPU time a process has spent (user + system), read from /proc: how the analyzers tell a costly file from a busy machine.
import { readFileSync } from "node:fs";

/** Linux reports utime and stime in USER_HZ ticks, which is 100 on every architecture Linux runs user space on. */
const TICKS_PER_SECOND = 100;

/** Milliseconds of CPU the process has used, or null when it cannot be read (gone, or not Linux). */
export function processCpuMs(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    // the command name (field 2) is in parentheses and may hold spaces: the fields that follow start after the last ")"
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[11]) + Number(fields[12]); // fields 14 and 15: utime, stime
    return Number.isFinite(ticks) ? (ticks * 1000) / TICKS_PER_SECOND : null;
  } catch {
    return null;
  }
}

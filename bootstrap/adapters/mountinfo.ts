// Reads /proc/self/mountinfo: is a path itself a mount point, and of which file system (never a plain directory in its place).
import fs from "node:fs";
import path from "node:path";

export interface MountEntry {
  root: string;
  mountPoint: string;
  options: string;
  fsType: string;
  source: string;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const fields = line.split(" ");
    const separator = fields.indexOf("-", 6);
    if (separator === -1 || fields.length < separator + 3) continue;
    entries.push({ root: unescape(fields[3]!), mountPoint: unescape(fields[4]!), options: fields[5]!, fsType: fields[separator + 1]!, source: unescape(fields[separator + 2]!) });
  }
  return entries;
}

export type MountCheck =
  | { state: "mounted"; entry: MountEntry }
  | { state: "other"; entry: MountEntry }
  | { state: "plain"; detail: string }
  | { state: "missing" };

export interface ExpectedMount {
  fsTypes: string[];
  /** Accepted sources, e.g. "fs-0123.efs.eu-west-1.amazonaws.com:/" or a mount target's "10.0.1.5:/"; a function for other shapes. */
  matches: (entry: MountEntry) => boolean;
}

/** Pure: what `mountPoint` is, given mountinfo's text and whether the directory exists. The last entry for a mount point is the visible one. */
export function checkMount(mountinfo: string, mountPoint: string, exists: boolean, expected: ExpectedMount): MountCheck {
  const entry = parseMountinfo(mountinfo).filter((candidate) => candidate.mountPoint === mountPoint).at(-1);
  if (!entry) return exists ? { state: "plain", detail: `${mountPoint} is a plain directory, not a mount point` } : { state: "missing" };
  return expected.fsTypes.includes(entry.fsType) && expected.matches(entry) ? { state: "mounted", entry } : { state: "other", entry };
}

/**
 * Test hook (like BOOTSTRAP_CRASH_AFTER): lines in the file BOOTSTRAP_TEST_MOUNTINFO_EXTRA are read as if they followed
 * /proc/self/mountinfo. This kernel has no NFS client, so a fleet on one machine (`npm run ha`'s AWS scenarios) bind-mounts the
 * shared directory with a `mount` stand-in and writes here the nfs4 line the kernel would show for EFS. Unset on an instance.
 */
function extraMountinfo(): string {
  const file = process.env.BOOTSTRAP_TEST_MOUNTINFO_EXTRA;
  if (!file) return "";
  try {
    return `\n${fs.readFileSync(file, "utf8")}`;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw error;
  }
}

/** Reads the machine: the real path (symlinks resolved) and this process's mountinfo. */
export function observeMount(mountPoint: string, expected: ExpectedMount): MountCheck {
  let real = path.resolve(mountPoint);
  let exists = false;
  try {
    real = fs.realpathSync(mountPoint);
    exists = fs.statSync(real).isDirectory();
  } catch {
    exists = false;
  }
  return checkMount(fs.readFileSync("/proc/self/mountinfo", "utf8") + extraMountinfo(), real, exists, expected);
}

export function describeEntry(entry: MountEntry): string {
  return `${entry.source} (${entry.fsType}${entry.root !== "/" ? `, root ${entry.root}` : ""})`;
}

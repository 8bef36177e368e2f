// One deploy at a time per host: an atomic mkdir lock with a details file; a lock left by a dead process is taken over.
import fs from "node:fs/promises";
import os from "node:os";
import { ComposeError } from "./errors.ts";

export interface LockDetails {
  pid: number;
  host: string;
  command: string;
  since: string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function readDetails(dir: string): Promise<LockDetails | null> {
  try {
    return JSON.parse(await fs.readFile(`${dir}/details.json`, "utf8")) as LockDetails;
  } catch {
    return null;
  }
}

/** Runs `fn` holding `<stateDir>/lock`; refuses, naming the holder, while another live process holds it. */
export async function withLock<T>(stateDir: string, command: string, fn: () => Promise<T>): Promise<T> {
  const dir = `${stateDir}/lock`;
  const details: LockDetails = { pid: process.pid, host: os.hostname(), command, since: new Date().toISOString() };
  await fs.mkdir(stateDir, { recursive: true });
  for (let attempt = 0; ; attempt += 1) {
    try {
      await fs.mkdir(dir);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = await readDetails(dir);
      const stale = holder !== null && holder.host === details.host && !alive(holder.pid);
      if (!stale || attempt > 0) {
        throw new ComposeError({
          what: `${command}: another deploy is in progress`,
          cause: holder ? `${dir} is held by pid ${holder.pid} (${holder.command}) since ${holder.since}` : `${dir} exists (no details yet)`,
          next: `wait for it to finish, or remove ${dir} if that process is gone`,
        });
      }
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
  try {
    await fs.writeFile(`${dir}/details.json`, `${JSON.stringify(details)}\n`);
    return await fn();
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

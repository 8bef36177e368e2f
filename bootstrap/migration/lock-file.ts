// The migration lock's file: its schema and how it is read (the renewer thread reads only the token: lease-state.ts).
import fs from "node:fs";
import os from "node:os";
import { z } from "zod";

export const LockSchema = z
  .object({
    token: z.string().min(1),
    holder: z.string().min(1),
    host: z.string().min(1),
    pid: z.number().int().positive(),
    acquiredAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
  })
  .strict();

export type LockContent = z.infer<typeof LockSchema>;

/** The host a lock names: this machine, or BOOTSTRAP_TEST_LOCK_HOST (test hook: agents side by side on one machine judged as separate instances, by lease only). */
export function lockHost(): string {
  return process.env.BOOTSTRAP_TEST_LOCK_HOST || os.hostname();
}

/** The lock's content; null when there is none, "unreadable" when something else sits at its name. */
export function readLock(file: string): LockContent | null | "unreadable" {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    // A directory at the lock's name is something else sitting there, said as such (not a raw EISDIR).
    if ((error as NodeJS.ErrnoException).code === "EISDIR") return "unreadable";
    throw error;
  }
  const parsed = LockSchema.safeParse((() => {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  })());
  return parsed.success ? parsed.data : "unreadable";
}


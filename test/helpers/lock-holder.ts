// Another process holding a SQLite database's lock (BEGIN EXCLUSIVE or IMMEDIATE in a child process), as another host would, until released.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { ROOT } from "./server-process.ts";

export interface LockHolder {
  child: ChildProcess;
  /** Rolls the transaction back and lets the child end; resolves once it has. */
  release(): Promise<void>;
}

/**
 * The child: takes the lock (waiting for it if need be), says "locked", holds it until a line arrives on stdin.
 * EXCLUSIVE keeps readers out too; IMMEDIATE is a long write elsewhere (readers go on, writers wait).
 */
const SCRIPT = `
import Database from "better-sqlite3";
import { createInterface } from "node:readline";
const db = new Database(process.argv[1], { timeout: 30000, fileMustExist: true });
db.exec("BEGIN " + process.argv[2]);
process.stdout.write("locked\\n");
createInterface({ input: process.stdin }).once("line", () => {
  db.exec("ROLLBACK");
  db.close();
  process.stdout.write("released\\n");
  process.exit(0);
});
`;

export async function holdLock(file: string, mode: "EXCLUSIVE" | "IMMEDIATE" = "EXCLUSIVE"): Promise<LockHolder> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", SCRIPT, file, mode], { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const exited = once(child, "exit");
  const [first] = (await Promise.race([once(lines, "line"), exited.then(([code]) => Promise.reject(new Error(`lock holder exited with ${code} before locking`)))])) as [string];
  if (first !== "locked") throw new Error(`lock holder said ${first}`);
  return {
    child,
    async release() {
      if (child.exitCode !== null) return;
      child.stdin!.write("release\n");
      await exited;
    },
  };
}

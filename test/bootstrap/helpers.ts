// Helpers for the bootstrap suites: an old single-instance layout to migrate, the agent as a real child process, and the convergence check.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
export const CLI = path.join(REPO_ROOT, "bootstrap", "cli.ts");

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
}

/** The old layout: database/codedetect.db with `rows` analyses, and `files` uploads (some in sub-directories, sizes 0–20 KB). */
export function makeOldLayout(dir: string, files: number, rows: number): void {
  fs.mkdirSync(path.join(dir, "database"), { recursive: true });
  fs.mkdirSync(path.join(dir, "uploads", "2025", "old"), { recursive: true });
  const db = new DatabaseSync(path.join(dir, "database", "codedetect.db"));
  db.exec("PRAGMA journal_mode=WAL; CREATE TABLE analysis (id INTEGER PRIMARY KEY, file_hash TEXT, timestamp TEXT, score INTEGER)");
  const insert = db.prepare("INSERT INTO analysis (file_hash, timestamp, score) VALUES (?, ?, ?)");
  db.exec("BEGIN");
  for (let i = 0; i < rows; i += 1) insert.run(randomBytes(8).toString("hex"), new Date(1_700_000_000_000 + i * 1000).toISOString(), i % 101);
  db.exec("COMMIT");
  db.close();
  for (let i = 0; i < files; i += 1) {
    const name = i % 10 === 0 ? `2025/old/${i}_sample.py` : i % 7 === 0 ? `20250101_1200${i}_name with space.py` : `20250101_1200${i}_x.py`;
    fs.writeFileSync(path.join(dir, "uploads", name), randomBytes(i % 13 === 0 ? 0 : 1 + (i * 37) % 20_000));
  }
}

export interface AgentResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The agent as a child process. The storage suites test steps 1–4, so a run stops after migrate (`--until migrate`)
 * unless `full` is set (the Docker suite) or the arguments choose a command or steps themselves.
 */
export function runAgent(args: string[], env: Record<string, string> = {}, options: { killAfterMs?: number; script?: string; cwd?: string; full?: boolean; onSpawn?: (child: ChildProcess) => void } = {}): Promise<AgentResult> {
  const chooses = args.some((arg) => ["status", "supervise", "--only", "--until", "--help"].includes(arg));
  const argv = options.full || chooses ? args : [...args, "--until", "migrate"];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.script ?? CLI, ...argv], { env: { ...process.env, ...env }, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
    options.onSpawn?.(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = options.killAfterMs === undefined ? null : setTimeout(() => child.kill("SIGKILL"), options.killAfterMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function sha(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

function rows(file: string): unknown[] {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return db.prepare("SELECT id, file_hash, timestamp, score FROM analysis ORDER BY id").all().map((row) => ({ ...row }));
  } finally {
    db.close();
  }
}

/** The migrated tree equals the source: the same upload names with the same sha256, nothing extra, every row once, no work left behind. */
export function assertConverged(source: string, shared: string): void {
  const tree = path.join(shared, "codedetect");
  const sourceFiles = filesUnder(path.join(source, "uploads"));
  const targetFiles = filesUnder(path.join(tree, "uploads"));
  assert.deepEqual(targetFiles, sourceFiles, "the uploads on the shared tree are exactly the source's");
  for (const name of sourceFiles) assert.equal(sha(path.join(tree, "uploads", name)), sha(path.join(source, "uploads", name)), `${name} has the source's checksum`);
  assert.deepEqual(rows(path.join(tree, "database", "codedetect.db")), rows(path.join(source, "database", "codedetect.db")), "every row once");
  assert.deepEqual(filesUnder(path.join(tree, "database")), ["codedetect.db"], "one database, no archive");
  assert.equal(fs.existsSync(path.join(tree, ".migration")), false, "no staging left");
  assert.equal(fs.existsSync(path.join(tree, "migration-conflicts")), false, "no conflicts");
  assert.equal(fs.readdirSync(tree).filter((name) => name.startsWith(".migration.lock")).length, 0, "no lock left");
  const marker = JSON.parse(fs.readFileSync(path.join(tree, ".migrated.json"), "utf8"));
  assert.equal(marker.files.length, sourceFiles.length);
}

export function journal(stateDir: string): { steps: Record<string, { outcome: string; note: string | null }> } {
  return JSON.parse(fs.readFileSync(path.join(stateDir, "journal.json"), "utf8"));
}

// The retention sweep on a real database and real files, and in the real server: expired results, reports and uploads go together; statistics stay.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { sweepOnce } from "../../server/retention.ts";
import { openSqliteStore } from "../../server/store/sqlite.ts";
import { openFileStore } from "../../server/uploads/file-store.ts";
import Database from "better-sqlite3";
import { startServer, tempDir, upload } from "../helpers/server-process.ts";

const DAY = 24 * 60 * 60 * 1000;

test("after the retention period an upload's file and stored result are removed; its statistics row stays", async () => {
  const dir = tempDir();
  const store = await openSqliteStore({ file: path.join(dir, "database", "codedetect.db"), busyDeadlineMs: 2000 });
  const files = await openFileStore(path.join(dir, "uploads"));
  const now = new Date("2026-03-20T12:00:00.000Z");
  const add = async (hash: string, at: Date) => {
    await files.put(hash, Buffer.from(`# ${hash}\n`));
    fs.utimesSync(path.join(dir, "uploads", `${hash}.py`), at, at);
    await store.recordAnalysis({ fileHash: hash, timestamp: at.toISOString(), score: 90, totalIssues: 1, securityIssues: 0, complexityIssues: 0 }, JSON.stringify({ score: 90, summary: { total_issues: 1, security_issues: 0, high_complexity_functions: 0 } }));
  };
  const old = "a".repeat(64);
  const recent = "b".repeat(64);
  await add(old, new Date(now.getTime() - 8 * DAY));
  await add(recent, new Date(now.getTime() - 2 * DAY));
  const orphan = path.join(dir, "uploads", `${"c".repeat(64)}.py`);
  fs.writeFileSync(orphan, "# no row\n");
  fs.utimesSync(orphan, new Date(now.getTime() - 9 * DAY), new Date(now.getTime() - 9 * DAY));
  const crashed = path.join(dir, "uploads", ".tmp", "123-deadbeef");
  fs.writeFileSync(crashed, "partial");
  fs.utimesSync(crashed, new Date(now.getTime() - 2 * 60 * 60 * 1000), new Date(now.getTime() - 2 * 60 * 60 * 1000));
  await store.addReport({ email: "x@example.org", type: "feedback", message: "old", createdAt: new Date(now.getTime() - 10 * DAY).toISOString() });

  const summary = await sweepOnce(store, files, 7, now);
  assert.deepEqual(summary, { results: 1, reports: 1, files: 3 });
  assert.deepEqual(fs.readdirSync(path.join(dir, "uploads")).sort(), [".tmp", `${recent}.py`]);
  assert.deepEqual(fs.readdirSync(path.join(dir, "uploads", ".tmp")), []);
  assert.equal(await store.findResult(old), null);
  assert.ok(await store.findResult(recent));
  assert.equal((await store.stats(10)).total_analyses, 2, "statistics rows hold no code or name and are kept");
  await store.close();
});

const RESULT = JSON.stringify({ score: 100, summary: { total_issues: 0, security_issues: 0, high_complexity_functions: 0 } });
const rowAt = (hash: string, at: Date) => ({ fileHash: hash, timestamp: at.toISOString(), score: 100, totalIssues: 0, securityIssues: 0, complexityIssues: 0 });

test("a repeat upload keeps file and result together: both stay while it is recent, both go when it expires", async () => {
  const dir = tempDir();
  const store = await openSqliteStore({ file: path.join(dir, "c.db"), busyDeadlineMs: 2000 });
  const files = await openFileStore(path.join(dir, "uploads"));
  const now = new Date("2026-03-20T12:00:00.000Z");
  const hash = "d".repeat(64);
  const file = path.join(dir, "uploads", `${hash}.py`);
  const first = new Date(now.getTime() - 8 * DAY);
  await files.put(hash, Buffer.from("x = 1\n"));
  fs.utimesSync(file, first, first); // stored 8 days ago, and not written since: a repeat is answered from the database
  await store.recordAnalysis(rowAt(hash, first), RESULT);
  await store.recordRepeat(hash, new Date(now.getTime() - DAY).toISOString());

  assert.deepEqual(await sweepOnce(store, files, 7, now), { results: 0, reports: 0, files: 0 });
  assert.ok(await store.findResult(hash));
  assert.ok(fs.existsSync(file), "the file stays as long as its result");

  assert.deepEqual(await sweepOnce(store, files, 7, new Date(now.getTime() + 7 * DAY)), { results: 1, reports: 0, files: 1 });
  assert.equal(await store.findResult(hash), null);
  assert.ok(!fs.existsSync(file), "and goes with it");
  await store.close();
});

test("a file stored again while the sweep runs stays; without a result it goes once it is older than the period", async () => {
  const dir = tempDir();
  const store = await openSqliteStore({ file: path.join(dir, "c.db"), busyDeadlineMs: 2000 });
  const files = await openFileStore(path.join(dir, "uploads"));
  const hash = "e".repeat(64);
  const file = path.join(dir, "uploads", `${hash}.py`);
  const old = new Date(Date.now() - 10 * DAY);
  await files.put(hash, Buffer.from("y = 2\n"));
  await store.recordAnalysis(rowAt(hash, old), RESULT);
  // an upload of the same content found no result (the sweep had just removed it) and stored the file again: now
  assert.equal(await files.put(hash, Buffer.from("y = 2\n")), "existing");

  const summary = await sweepOnce(store, files, 7);
  assert.equal(summary.results, 1);
  assert.equal(summary.files, 0);
  assert.ok(fs.existsSync(file), "kept for the result being recorded anew");
  assert.deepEqual(fs.readdirSync(path.join(dir, "uploads", ".tmp")), [], "nothing left aside");

  // that upload failed after all: no result came; the file is an orphan and goes when older than the period
  assert.deepEqual(await sweepOnce(store, files, 7, new Date(Date.now() + 8 * DAY)), { results: 0, reports: 0, files: 1 });
  assert.ok(!fs.existsSync(file));
  await store.close();
});

/** Moves an upload's recorded times (its result's and its file's) back by `days`, as if they had happened then. */
function age(dataDir: string, hash: string, days: { result?: number; file?: number }): void {
  const db = new Database(path.join(dataDir, "database", "codedetect.db"));
  const shift = (iso: string, by: number) => new Date(Date.parse(iso) - by * DAY).toISOString();
  const row = db.prepare("SELECT created_at, last_seen_at FROM results WHERE file_hash = ?").get(hash) as { created_at: string; last_seen_at: string };
  if (days.result) db.prepare("UPDATE results SET created_at = ?, last_seen_at = ? WHERE file_hash = ?").run(shift(row.created_at, days.result), shift(row.last_seen_at, days.result), hash);
  db.close();
  if (days.file) {
    const file = path.join(dataDir, "uploads", `${hash}.py`);
    const mtime = new Date(fs.statSync(file).mtimeMs - days.file * DAY);
    fs.utimesSync(file, mtime, mtime);
  }
}

/** Runs the server until its sweeper has removed something (a decoy expired upload guarantees it), then stops it. */
async function sweepWithServer(dataDir: string, decoy: string): Promise<void> {
  const server = await startServer({ dataDir, env: { RETENTION_DAYS: "7", SWEEP_INTERVAL_SECONDS: "1" } });
  try {
    const swept = (line: string) => line.includes("retention sweep removed expired data");
    for (let waited = 0; !server.lines.some(swept); waited += 100) {
      if (waited > 20_000) throw new Error(`no sweep seen:\n${server.lines.join("\n")}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(fs.existsSync(path.join(dataDir, "uploads", `${decoy}.py`)), false, "the decoy expired and went");
  } finally {
    await server.stop();
  }
}

test("the real server: content uploaded 9 days ago and again 4 days ago keeps file and result; 8 days after the last upload both are gone", async () => {
  const dataDir = tempDir();
  const quiet = { RETENTION_DAYS: "7", SWEEP_INTERVAL_SECONDS: "86400" };
  let server = await startServer({ dataDir, env: quiet });
  const first = await upload(server.url, "kept.py", "kept = 1\n").finally(() => server.stop());
  assert.equal(first.status, 200);
  const hash = first.body.file_hash as string;
  const file = path.join(dataDir, "uploads", `${hash}.py`);
  age(dataDir, hash, { result: 5, file: 5 }); // first upload 5 days ago

  server = await startServer({ dataDir, env: quiet });
  const [repeat, decoyAnswer] = await Promise.all([upload(server.url, "kept.py", "kept = 1\n"), upload(server.url, "decoy.py", "decoy = 1\n")]).finally(() => server.stop());
  assert.equal(repeat.body.cached, true, "answered from the stored result");
  const decoy = decoyAnswer.body.file_hash as string;
  age(dataDir, hash, { result: 4, file: 4 }); // first upload 9 days ago, repeat 4 days ago
  age(dataDir, decoy, { result: 20, file: 20 });

  await sweepWithServer(dataDir, decoy);
  assert.ok(fs.existsSync(file), "the file stays while its result does");
  server = await startServer({ dataDir, env: quiet });
  try {
    assert.equal((await fetch(`${server.url}/api/analysis/${hash}`)).status, 200);
    assert.equal((await fetch(`${server.url}/api/analysis/${decoy}`)).status, 404);
    const decoy2 = (await upload(server.url, "decoy2.py", "decoy = 2\n")).body.file_hash as string;
    await server.stop();
    age(dataDir, hash, { result: 4 }); // last upload now 8 days ago
    age(dataDir, decoy2, { result: 20, file: 20 });
    await sweepWithServer(dataDir, decoy2);
    assert.equal(fs.existsSync(file), false, "the file goes with its result");
    server = await startServer({ dataDir, env: quiet });
    assert.equal((await fetch(`${server.url}/api/analysis/${hash}`)).status, 404);
  } finally {
    await server.stop();
  }
});

// The SQLite store on real files: migrations (fresh, legacy, concurrent), stats in SQL, repeats, sweep, locks, backup.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import Database from "better-sqlite3";
import { SCHEMA_VERSION } from "../../server/store/migrations.ts";
import { backupSqlite, openSqliteStore } from "../../server/store/sqlite.ts";
import { StoreUnavailableError, type AnalysisRow } from "../../server/store/store.ts";
import { ROOT, tempDir } from "../helpers/server-process.ts";

const run = promisify(execFile);

function row(n: number, overrides: Partial<AnalysisRow> = {}): AnalysisRow {
  return { fileHash: n.toString(16).padStart(64, "0"), timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(), score: 50 + (n % 50), totalIssues: n % 7, securityIssues: n % 3, complexityIssues: n % 2, ...overrides };
}

function resultOf(r: AnalysisRow): string {
  return JSON.stringify({ file_hash: r.fileHash, score: r.score, summary: { total_issues: r.totalIssues, security_issues: r.securityIssues, high_complexity_functions: r.complexityIssues } });
}

test("a fresh database is created in rollback-journal mode at the current schema version", async () => {
  const file = path.join(tempDir(), "database", "codedetect.db");
  const store = await openSqliteStore({ file, busyDeadlineMs: 2000 });
  await store.close();
  const db = new Database(file, { readonly: true });
  assert.equal(db.pragma("journal_mode", { simple: true }), "delete");
  assert.equal(db.pragma("user_version", { simple: true }), SCHEMA_VERSION);
  db.close();
});

test("a database left in WAL mode is switched back to a rollback journal", async () => {
  const file = path.join(tempDir(), "codedetect.db");
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.close();
  const store = await openSqliteStore({ file, busyDeadlineMs: 2000 });
  await store.close();
  const check = new Database(file, { readonly: true });
  assert.equal(check.pragma("journal_mode", { simple: true }), "delete");
  check.close();
});

test("stats: totals, average to one decimal and the last 10 analyses oldest first; all zeros when empty", async () => {
  const store = await openSqliteStore({ file: path.join(tempDir(), "c.db"), busyDeadlineMs: 2000 });
  assert.deepEqual(await store.stats(10), { total_analyses: 0, avg_score: 0, total_security_issues: 0, total_quality_issues: 0, trend_data: [] });
  const rows = Array.from({ length: 12 }, (_, i) => row(i + 1));
  for (const r of rows) await store.recordAnalysis(r, resultOf(r));
  const stats = await store.stats(10);
  assert.equal(stats.total_analyses, 12);
  const avg = rows.reduce((sum, r) => sum + r.score, 0) / 12;
  assert.equal(stats.avg_score, Math.round(avg * 10) / 10);
  assert.equal(stats.total_security_issues, rows.reduce((sum, r) => sum + r.securityIssues, 0));
  assert.equal(stats.total_quality_issues, rows.reduce((sum, r) => sum + r.totalIssues, 0));
  assert.equal(stats.trend_data.length, 10);
  assert.deepEqual(stats.trend_data[0], { label: "Analysis #1", timestamp: rows[2]!.timestamp, score: rows[2]!.score, total_issues: rows[2]!.totalIssues, security_issues: rows[2]!.securityIssues, complexity_issues: rows[2]!.complexityIssues });
  assert.equal(stats.trend_data[9]!.timestamp, rows[11]!.timestamp);
  await store.close();
});

test("a repeat of known content is counted as an analysis with the stored score; unknown content is not", async () => {
  const store = await openSqliteStore({ file: path.join(tempDir(), "c.db"), busyDeadlineMs: 2000 });
  const first = row(1, { score: 77, totalIssues: 4 });
  await store.recordAnalysis(first, resultOf(first));
  const repeat = await store.recordRepeat(first.fileHash, "2026-02-01T00:00:00.000Z");
  assert.equal(JSON.parse(repeat!.resultJson).score, 77);
  assert.equal(await store.recordRepeat("f".repeat(64), "2026-02-01T00:00:00.000Z"), null);
  const stats = await store.stats(10);
  assert.equal(stats.total_analyses, 2);
  assert.equal(stats.total_quality_issues, 8);
  await store.close();
});

test("the old application's database is adopted: its rows count, its code and names leave the statistics table", async () => {
  const file = path.join(tempDir(), "codedetect.db");
  const legacy = new Database(file);
  legacy.exec(`CREATE TABLE analysis (id INTEGER PRIMARY KEY AUTOINCREMENT, file_hash TEXT, timestamp TEXT, score INTEGER,
    total_issues INTEGER, security_issues INTEGER, complexity_issues INTEGER, result_json TEXT, filename TEXT);
    CREATE INDEX idx_timestamp ON analysis(timestamp);`);
  const insert = legacy.prepare("INSERT INTO analysis (file_hash, timestamp, score, total_issues, security_issues, complexity_issues, result_json, filename) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  insert.run("a".repeat(64), "2025-01-09 10:00:00", 90, 3, 1, 0, JSON.stringify({ score: 90, original_code: "import os" }), "secret_name.py");
  insert.run("b".repeat(64), "2025-01-09 11:00:00", 70, 5, 0, 1, null, "other.py");
  legacy.close();

  const store = await openSqliteStore({ file, busyDeadlineMs: 2000 });
  const stats = await store.stats(10);
  assert.equal(stats.total_analyses, 2);
  assert.equal(stats.avg_score, 80);
  assert.equal(JSON.parse((await store.findResult("a".repeat(64)))!.resultJson).score, 90);
  const fresh = row(3);
  await store.recordAnalysis(fresh, resultOf(fresh));
  assert.equal((await store.stats(10)).total_analyses, 3);
  await store.close();
  const db = new Database(file, { readonly: true });
  const columns = (db.prepare("PRAGMA table_info(analysis)").all() as Array<{ name: string }>).map((c) => c.name);
  assert.ok(!columns.includes("filename") && !columns.includes("result_json"), `statistics columns: ${columns}`);
  db.close();
});

test("two processes migrating the same new database at once both succeed and the schema is applied once", async () => {
  const file = path.join(tempDir(), "shared.db");
  const script = `import { openSqliteStore } from ${JSON.stringify(path.join(ROOT, "server/store/sqlite.ts"))};
    const s = await openSqliteStore({ file: ${JSON.stringify(file)}, busyDeadlineMs: 10000 });
    console.log(JSON.stringify(s.schema)); await s.close();`;
  const results = await Promise.all(
    Array.from({ length: 4 }, () => run(process.execPath, ["--input-type=module", "-e", script])),
  );
  const schemas = results.map((r) => JSON.parse(r.stdout.trim()) as { from: number; to: number });
  assert.equal(schemas.filter((s) => s.from === 0).length, 1, `exactly one process migrated: ${JSON.stringify(schemas)}`);
  assert.ok(schemas.every((s) => s.to === SCHEMA_VERSION));
});

test("a write that meets a lock held past the deadline fails as StoreUnavailableError and leaves no row", async () => {
  const file = path.join(tempDir(), "locked.db");
  const store = await openSqliteStore({ file, busyDeadlineMs: 300 });
  const holder = new Database(file);
  holder.exec("BEGIN EXCLUSIVE");
  const r = row(1);
  await assert.rejects(store.recordAnalysis(r, resultOf(r)), (error: Error) => error instanceof StoreUnavailableError && /locked/.test(error.message));
  holder.exec("ROLLBACK");
  holder.close();
  assert.equal((await store.stats(10)).total_analyses, 0);
  await store.close();
});

test("the sweep removes results and reports older than the cutoff and keeps statistics", async () => {
  const file = path.join(tempDir(), "c.db");
  const store = await openSqliteStore({ file, busyDeadlineMs: 2000 });
  const old = row(1, { timestamp: "2026-01-01T00:00:00.000Z" });
  const recent = row(2, { timestamp: "2026-01-10T00:00:00.000Z" });
  for (const r of [old, recent]) await store.recordAnalysis(r, resultOf(r));
  await store.addReport({ email: "user@example.org", type: "bug", message: "x", createdAt: "2026-01-01T00:00:00.000Z" });
  await store.probeWrite("gone-host", "2026-01-01T00:00:00.000Z");
  await store.probeWrite("live-host", "2026-01-10T00:00:00.000Z");
  const outcome = await store.sweep("2026-01-05T00:00:00.000Z");
  assert.deepEqual(outcome, { results: 1, reports: 1, fileHashes: [old.fileHash] });
  assert.equal(await store.findResult(old.fileHash), null);
  assert.ok(await store.findResult(recent.fileHash));
  assert.equal((await store.stats(10)).total_analyses, 2);
  await store.close();
  const db = new Database(file, { readonly: true });
  assert.deepEqual(db.prepare("SELECT host FROM heartbeat").pluck().all(), ["live-host"], "heartbeats of hosts gone since the cutoff are dropped");
  db.close();
});

test("backup: an online copy that opens and holds every row, written atomically; a bad destination fails with one line", async () => {
  const dataDir = tempDir();
  const file = path.join(dataDir, "database", "codedetect.db");
  const store = await openSqliteStore({ file, busyDeadlineMs: 2000 });
  for (let i = 1; i <= 50; i++) await store.recordAnalysis(row(i), resultOf(row(i)));
  const destination = path.join(tempDir(), "backup.db");
  const { stdout } = await run(process.execPath, [path.join(ROOT, "server/backup-cli.ts"), destination], { env: { ...process.env, DATA_DIR: dataDir } });
  assert.match(stdout, /backed up .* to .*backup\.db/);
  const copy = new Database(destination, { readonly: true });
  assert.equal((copy.prepare("SELECT COUNT(*) AS n FROM analysis").get() as { n: number }).n, 50);
  copy.close();
  assert.deepEqual(fs.readdirSync(path.dirname(destination)), ["backup.db"]);
  await assert.rejects(run(process.execPath, [path.join(ROOT, "server/backup-cli.ts"), "/nonexistent/dir/x.db"], { env: { ...process.env, DATA_DIR: dataDir } }), (error: Error & { stderr: string; code: number }) => {
    assert.equal(error.code, 1);
    assert.equal(error.stderr.trim().split("\n").length, 1);
    assert.match(error.stderr, /destination directory \/nonexistent\/dir does not exist/);
    return true;
  });
  // the library call too: a consistent copy while the store is open
  await backupSqlite(file, path.join(path.dirname(destination), "again.db"));
  await store.close();
});

test("condition: busy (with what waits) while another connection holds the lock, stale stats meanwhile, ok once a write gets through", async (t) => {
  const file = path.join(tempDir(), "busy.db");
  const store = await openSqliteStore({ file, busyDeadlineMs: 10_000 });
  t.after(() => store.close());
  const first = row(1);
  await store.recordAnalysis(first, resultOf(first));
  await store.stats(10);
  const holder = new Database(file);
  holder.exec("BEGIN EXCLUSIVE");
  try {
    const second = row(2);
    const write = store.recordAnalysis(second, resultOf(second));
    while (store.condition().state !== "busy") await new Promise((resolve) => setTimeout(resolve, 10));
    const busy = store.condition();
    assert.equal(busy.state === "busy" && busy.waiting, 1);
    const stats = await store.stats(10);
    assert.equal(stats.total_analyses, 1);
    assert.match(stats.stale?.reason ?? "", /locked by another process or host/);
    holder.exec("ROLLBACK");
    await write;
  } finally {
    holder.close();
  }
  assert.deepEqual(store.condition(), { state: "ok" });
  const stats = await store.stats(10);
  assert.equal(stats.total_analyses, 2);
  assert.equal(stats.stale, undefined);
});

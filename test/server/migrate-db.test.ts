// migrate-db on 100,000 rows against a real PostgreSQL: equal counts and sums, a no-op re-run, refusal to merge, kill -9 mid-copy, catch-up by id.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import Database from "better-sqlite3";
import pg from "pg";
import { databaseFile } from "../../server/paths.ts";
import { openPostgresStore } from "../../server/store/postgres.ts";
import { databaseTarget } from "../../server/store/postgres-url.ts";
import { openSqliteStore } from "../../server/store/sqlite.ts";
import { postgresGate, startPostgres, type RunningPostgres } from "../helpers/postgres.ts";
import { ROOT, tempDir } from "../helpers/server-process.ts";

const ROWS = 100_000;
const gate = postgresGate();
let postgres: RunningPostgres | undefined;
let dataDir: string;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the command; `killOn` kills it with SIGKILL as soon as a stdout line matches. */
function migrateDb(args: string[], killOn?: RegExp): Promise<Run> {
  const child = spawn(process.execPath, [path.join(ROOT, "server/migrate-db-cli.ts"), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    if (killOn?.test(stdout) && child.exitCode === null) child.kill("SIGKILL");
  });
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
}

const AGGREGATES = "SELECT COUNT(*) AS count, SUM(score) AS score, SUM(security_issues) AS security, SUM(total_issues) AS quality, SUM(complexity_issues) AS complexity FROM analysis";
type Sums = { count: number; score: number; security: number; quality: number; complexity: number };
const numbers = (row: Record<string, unknown>): Sums => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Number(v ?? 0)])) as Sums;

function sqliteSums(): Sums & { results: number; reports: number } {
  const db = new Database(databaseFile(dataDir), { readonly: true });
  try {
    return { ...numbers(db.prepare(AGGREGATES).get() as Record<string, unknown>), results: db.prepare("SELECT COUNT(*) FROM results").pluck().get() as number, reports: db.prepare("SELECT COUNT(*) FROM reports").pluck().get() as number };
  } finally {
    db.close();
  }
}

async function pgSums(database: string): Promise<Sums & { results: number; reports: number }> {
  const client = new pg.Client({ connectionString: postgres!.url(database) });
  await client.connect();
  try {
    const sums = numbers((await client.query(AGGREGATES)).rows[0]);
    const { rows } = await client.query("SELECT (SELECT COUNT(*) FROM results) AS results, (SELECT COUNT(*) FROM reports) AS reports");
    return { ...sums, results: Number(rows[0].results), reports: Number(rows[0].reports) };
  } finally {
    await client.end();
  }
}

/** Adds n analyses to the SQLite source the way the server does (totals kept by its triggers). */
function addToSqlite(n: number, offset: number): void {
  const db = new Database(databaseFile(dataDir));
  try {
    db.prepare(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
      INSERT INTO analysis (file_hash, timestamp, score, total_issues, security_issues, complexity_issues)
      SELECT printf('%064x', i + ?), '2026-01-01T00:00:00.000Z', (i + ?) % 101, i % 7, i % 3, i % 2 FROM n`).run(n, offset, offset);
  } finally {
    db.close();
  }
}

before(async () => {
  if (gate.mustFail) throw new Error("PostgreSQL is required under CI and is unavailable");
  if (gate.skip) return;
  postgres = await startPostgres();
  dataDir = tempDir();
  const store = await openSqliteStore({ file: databaseFile(dataDir), busyDeadlineMs: 5000 });
  for (let i = 0; i < 300; i++) {
    const hash = `c${i.toString(16).padStart(63, "0")}`;
    const row = { fileHash: hash, timestamp: `2026-01-02T00:00:${String(i % 60).padStart(2, "0")}.000Z`, score: i % 100, totalIssues: 2, securityIssues: 1, complexityIssues: 0 };
    await store.recordAnalysis(row, JSON.stringify({ file_hash: hash, score: row.score, summary: { total_issues: 2, security_issues: 1, high_complexity_functions: 0 } }));
  }
  for (let i = 0; i < 20; i++) await store.addReport({ email: `u${i}@example.com`, type: "feedback", message: `report ${i}`, createdAt: "2026-01-03T00:00:00.000Z" });
  await store.close();
  addToSqlite(ROWS - 300, 1000);
});
after(() => postgres?.destroy());

test("100,000 rows copied in one transaction: counts and sums equal on both sides, statistics equal; a re-run finds them and writes nothing", { skip: gate.skip }, async () => {
  postgres!.createDatabase("copy");
  const first = await migrateDb(["--from", dataDir, "--to", postgres!.url("copy")]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /copied 100000 analyses, 300 results and 20 reports into postgres:\/\/app@127\.0\.0\.1:\d+\/copy in one transaction/);
  const source = sqliteSums();
  assert.equal(source.count, ROWS);
  assert.deepEqual(await pgSums("copy"), source);
  const sqliteStore = await openSqliteStore({ file: databaseFile(dataDir), busyDeadlineMs: 5000 });
  const pgStore = await openPostgresStore({ target: databaseTarget(postgres!.url("copy"), null), poolSize: 2, deadlineMs: 5000 });
  try {
    assert.deepEqual(await pgStore.stats(10), await sqliteStore.stats(10));
  } finally {
    await sqliteStore.close();
    await pgStore.close();
  }
  const second = await migrateDb(["--from", dataDir, "--to", postgres!.url("copy")]);
  assert.equal(second.code, 0, second.stderr);
  assert.match(second.stdout, /^already migrated: .*nothing copied\n$/);
  assert.deepEqual(await pgSums("copy"), source);
});

test("a target holding other data is refused with exit 1 and one line; nothing is merged", { skip: gate.skip }, async () => {
  postgres!.createDatabase("other");
  const store = await openPostgresStore({ target: databaseTarget(postgres!.url("other"), null), poolSize: 1, deadlineMs: 5000 });
  await store.addReport({ email: "x@example.com", type: "bug", message: "someone else's", createdAt: "2026-01-01T00:00:00.000Z" });
  await store.close();
  const run = await migrateDb(["--from", dataDir, "--to", postgres!.url("other")]);
  assert.equal(run.code, 1);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /^codedetect migrate-db: postgres:\/\/app@[^ ]+\/other: the target database already holds other data \(0 analyses, 0 results, 1 reports\) not copied by migrate-db; refusing to merge: give an empty database\n$/);
  assert.deepEqual(await pgSums("other"), { count: 0, score: 0, security: 0, quality: 0, complexity: 0, results: 0, reports: 1 });
});

test("kill -9 in the middle of the copy leaves the target empty; the next run copies it all", { skip: gate.skip }, async () => {
  postgres!.createDatabase("killed");
  const killed = await migrateDb(["--from", dataDir, "--to", postgres!.url("killed")], /analyses copied: 10000\n/);
  assert.equal(killed.signal, "SIGKILL", `it finished before it could be killed: ${killed.stdout}`);
  assert.doesNotMatch(killed.stdout, /copied 100000 analyses/);
  const left = await pgSums("killed");
  assert.deepEqual(left, { count: 0, score: 0, security: 0, quality: 0, complexity: 0, results: 0, reports: 0 });
  const again = await migrateDb(["--from", dataDir, "--to", postgres!.url("killed")]);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(await pgSums("killed"), sqliteSums());
});

test("switch-over: rows written to SQLite after the copy are caught up by id beside the PostgreSQL fleet's; a second catch-up adds nothing", { skip: gate.skip }, async () => {
  postgres!.createDatabase("switch");
  assert.equal((await migrateDb(["--from", dataDir, "--to", postgres!.url("switch")])).code, 0);
  const copied = sqliteSums();
  // meanwhile: the SQLite fleet takes 25 more, a server already on PostgreSQL takes 2
  addToSqlite(25, 500_000);
  const pgStore = await openPostgresStore({ target: databaseTarget(postgres!.url("switch"), null), poolSize: 1, deadlineMs: 5000 });
  const fleetRow = { fileHash: "a".repeat(64), timestamp: "2026-04-01T00:00:00.000Z", score: 60, totalIssues: 1, securityIssues: 1, complexityIssues: 1 };
  await pgStore.recordAnalysis(fleetRow, JSON.stringify({ file_hash: fleetRow.fileHash, score: 60, summary: { total_issues: 1, security_issues: 1, high_complexity_functions: 1 } }));
  await pgStore.recordRepeat(fleetRow.fileHash, "2026-04-01T00:00:01.000Z");
  const notice = await migrateDb(["--from", dataDir, "--to", postgres!.url("switch")]);
  assert.match(notice.stdout, /25 analyses were written to SQLite since: run with --catch-up/);
  const caught = await migrateDb(["--from", dataDir, "--to", postgres!.url("switch"), "--catch-up"]);
  assert.equal(caught.code, 0, caught.stderr);
  assert.match(caught.stdout, /caught up: 25 analyses and 0 reports/);
  const source = sqliteSums();
  const target = await pgSums("switch");
  assert.equal(target.count, source.count + 2);
  assert.equal(target.score, source.score + 120);
  assert.equal(source.count, copied.count + 25);
  assert.equal((await pgStore.stats(10)).total_analyses, source.count + 2);
  await pgStore.close();
  const again = await migrateDb(["--from", dataDir, "--to", postgres!.url("switch"), "--catch-up"]);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /nothing to catch up/);
  assert.equal((await pgSums("switch")).count, source.count + 2);
});

/** The old single-instance application's database (schema version 0) in a fresh data directory, with these rows (file_hash, timestamp, score, total, security, complexity, result_json, filename). */
function oldApplicationDatabase(rows: unknown[][]): { dir: string; file: string } {
  const dir = tempDir();
  const file = databaseFile(dir);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const legacy = new Database(file);
  legacy.exec(`CREATE TABLE analysis (id INTEGER PRIMARY KEY AUTOINCREMENT, file_hash TEXT, timestamp TEXT, score INTEGER,
    total_issues INTEGER, security_issues INTEGER, complexity_issues INTEGER, result_json TEXT, filename TEXT);
    CREATE INDEX idx_timestamp ON analysis(timestamp);`);
  const insert = legacy.prepare("INSERT INTO analysis (file_hash, timestamp, score, total_issues, security_issues, complexity_issues, result_json, filename) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  for (const row of rows) insert.run(...row);
  legacy.close();
  return { dir, file };
}

test("the old single-instance application's database (schema version 0) goes straight to PostgreSQL: its copy is brought up to date, the file itself is untouched", { skip: gate.skip }, async () => {
  const { dir: oldDir, file } = oldApplicationDatabase([
    ["a".repeat(64), "2025-01-09 10:00:00", 90, 3, 1, 0, JSON.stringify({ file_hash: "a".repeat(64), score: 90, summary: { total_issues: 3, security_issues: 1, high_complexity_functions: 0 } }), "old_name.py"],
    ["b".repeat(64), "2025-01-09 11:00:00", 70, 5, 0, 1, null, "other.py"],
  ]);
  const before = fs.readFileSync(file);
  postgres!.createDatabase("legacy");
  const run = await migrateDb(["--from", oldDir, "--to", postgres!.url("legacy")]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^read .*codedetect\.db at schema version 0 through a private copy brought to the current schema \(the file itself is unchanged\)\nanalyses copied: 2\ncopied 2 analyses, 1 results and 0 reports into /);
  assert.deepEqual(await pgSums("legacy"), { count: 2, score: 160, security: 1, quality: 8, complexity: 1, results: 1, reports: 0 });
  assert.ok(fs.readFileSync(file).equals(before), "the old database file was changed");
  const pgStore = await openPostgresStore({ target: databaseTarget(postgres!.url("legacy"), null), poolSize: 1, deadlineMs: 5000 });
  try {
    assert.equal((await pgStore.stats(10)).avg_score, 80);
  } finally {
    await pgStore.close();
  }
});

test("an old database's row PostgreSQL cannot take (text in an integer column) is named by its id and field; nothing is written", { skip: gate.skip }, async () => {
  const { dir: oddDir } = oldApplicationDatabase([
    [null, "2025-01-09 10:00:00", 90, 3, 1, 0, null, "fine.py"],
    ["c".repeat(64), "2025-01-09 11:00:00", "abc", 5, 0, 1, null, "odd.py"],
  ]);
  postgres!.createDatabase("odd_rows");
  const run = await migrateDb(["--from", oddDir, "--to", postgres!.url("odd_rows")]);
  assert.equal(run.code, 1, run.stdout);
  assert.match(run.stderr, /^codedetect migrate-db: copy into .* failed, nothing was written: .*codedetect\.db: analysis id 2 cannot be copied: score is "abc" \(.*\); correct or delete that row, then run migrate-db again\n$/);
  const client = new pg.Client({ connectionString: postgres!.url("odd_rows") });
  await client.connect();
  try {
    const { rows } = await client.query("SELECT to_regclass('analysis') IS NULL OR NOT EXISTS (SELECT 1 FROM analysis) AS empty");
    assert.equal(rows[0].empty, true, "a row was written");
  } catch (error) {
    assert.match((error as Error).message, /relation "analysis" does not exist/);
  } finally {
    await client.end();
  }
});

test("a database written by a newer CodeDetect is refused with one line; nothing is written", { skip: gate.skip }, async () => {
  const newerDir = tempDir();
  const file = databaseFile(newerDir);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const newer = new Database(file);
  newer.pragma("user_version = 999");
  newer.close();
  postgres!.createDatabase("newer");
  const run = await migrateDb(["--from", newerDir, "--to", postgres!.url("newer")]);
  assert.equal(run.code, 1);
  assert.match(run.stderr, /^codedetect migrate-db: .*codedetect\.db is at schema version 999, newer than this tool's \d+: run migrate-db from the version of CodeDetect that wrote it\n$/);
  const client = new pg.Client({ connectionString: postgres!.url("newer") });
  await client.connect();
  try {
    assert.equal(Number((await client.query("SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'")).rows[0].n), 0, "tables were created");
  } finally {
    await client.end();
  }
});

test("usage and bad input: exit 2 for usage, exit 1 with one line for a missing source or an unreachable target; never the password", async () => {
  const usage = await migrateDb(["--from", "/nonexistent"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /^codedetect migrate-db: --to \(or DATABASE_URL\) is required; usage: /);
  const unknown = await migrateDb(["--form", "x"]);
  assert.equal(unknown.code, 2);
  const badUrl = await migrateDb(["--from", tempDir(), "--to", "mysql://u:secret-y@h/db"]);
  assert.equal(badUrl.code, 2);
  assert.ok(!badUrl.stderr.includes("secret-y"));
  const noSource = await migrateDb(["--from", tempDir(), "--to", "postgres://u:secret-y@127.0.0.1:1/db"]);
  assert.equal(noSource.code, 1);
  assert.match(noSource.stderr, /^codedetect migrate-db: no SQLite database at .*codedetect\.db \(is --from the server's DATA_DIR\?\)\n$/);
  if (gate.skip) return;
  const unreachable = await migrateDb(["--from", dataDir, "--to", "postgres://u:secret-y@127.0.0.1:1/db"]);
  assert.equal(unreachable.code, 1);
  assert.match(unreachable.stderr, /^codedetect migrate-db: copy into postgres:\/\/u@127\.0\.0\.1:1\/db failed, nothing was written: the database server cannot be reached \(ECONNREFUSED\)[^\n]*\n$/);
  assert.ok(!unreachable.stderr.includes("secret-y"));
});

// The real server on real SQLite files while the database is locked elsewhere, corrupt, replaced by a backup or removed.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { backupSqlite } from "../../server/store/sqlite.ts";
import { holdLock } from "../helpers/lock-holder.ts";
import { filesUnder, ROOT, startServer, tempDir, upload, type RunningServer } from "../helpers/server-process.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const dbOf = (server: { dataDir: string }) => path.join(server.dataDir, "database", "codedetect.db");

interface Check {
  ok: boolean;
  state: string;
  detail?: string;
  error?: string;
}
interface HealthBody {
  status: string;
  checks: { database: Check; storage: Check; analyzers: { ok: boolean } };
}

async function healthOf(url: string) {
  const response = await fetch(`${url}/api/health`);
  return { status: response.status, body: (await response.json()) as HealthBody };
}

async function getJson(url: string) {
  const response = await fetch(url);
  return { status: response.status, body: (await response.json()) as any, headers: response.headers };
}

async function waitFor<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean, deadlineMs = 20_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > until) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await sleep(150);
  }
}

/** An answer speaks only of the request: no data directory, no temp directory, no process id (times aside). */
function assertNoHostDetails(body: unknown, server: RunningServer): void {
  const text = JSON.stringify(body, (key, value) => (["checked_at", "timestamp", "since"].includes(key) ? undefined : value));
  assert.ok(!text.includes(server.dataDir), `data directory in ${text}`);
  assert.doesNotMatch(text, /"\/|[\s'(]\/[\w.-]+\//, `a host path in ${text}`);
  assert.doesNotMatch(text, new RegExp(`(?<!\\d)${server.child.pid}(?!\\d)`), `the server's PID in ${text}`);
}

function countRows(file: string): number {
  const db = new Database(file, { readonly: true, timeout: 5000 });
  try {
    return (db.prepare("SELECT COUNT(*) AS n FROM analysis").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Overwrites one table's root page with garbage and bumps the header's change counter, as a torn write on a volume would. */
function damageTable(file: string, table: string): void {
  const db = new Database(file, { readonly: true });
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  const root = db.prepare("SELECT rootpage FROM sqlite_schema WHERE name = ?").pluck().get(table) as number;
  db.close();
  const fd = fs.openSync(file, "r+");
  try {
    fs.writeSync(fd, Buffer.alloc(pageSize, 0xff), 0, pageSize, (root - 1) * pageSize);
    const counter = Buffer.alloc(4);
    fs.readSync(fd, counter, 0, 4, 24);
    counter.writeUInt32BE(counter.readUInt32BE(0) + 1);
    fs.writeSync(fd, counter, 0, 4, 24);
  } finally {
    fs.closeSync(fd);
  }
}

/** Runs the server expecting it to refuse to start: its exit code and what it wrote to stderr. */
async function startRefused(dataDir: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, "server/main.ts")], {
    cwd: ROOT,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", DATA_DIR: dataDir, LOG_LEVEL: "info", ANALYZER_WORKERS: "1" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  return { code, stderr };
}

test("another process holds the lock while 20 uploads wait: health and stats answer, the uploads complete once it lets go", async () => {
  // The 20 uploads come from one test client: its share is lifted so that all of them reach the database and wait there.
  const server = await startServer({ env: { DB_BUSY_RETRY_SECONDS: "30", HEALTH_INTERVAL_SECONDS: "1", ANALYZER_QUEUE: "40", CLIENT_MAX_ANALYSES: "40" } });
  try {
    assert.equal((await upload(server.url, "before.py", "before = 1\n")).status, 200);
    const before = await getJson(`${server.url}/api/stats`);
    const holder = await holdLock(dbOf(server));
    const codes = Array.from({ length: 20 }, (_, i) => `waiting_${i} = ${i}\n`);
    const uploads = Promise.all(codes.map((code, i) => upload(server.url, `waiting_${i}.py`, code)));
    try {
      const busy = await waitFor("health while locked", () => healthOf(server.url), (h) => Number(/(\d+) operations waiting/.exec(h.body.checks.database.detail ?? "")?.[1]) >= 20);
      assert.equal(busy.status, 200, "a lock held by another process is not this host's fault");
      assert.equal(busy.body.status, "healthy");
      assert.equal(busy.body.checks.database.ok, true);
      assert.match(busy.body.checks.database.detail!, /another process or host holds the database lock: \d+ operations waiting for \d+ s; unhealthy after 60 s/);
      assertNoHostDetails(busy.body, server);

      const stats = await getJson(`${server.url}/api/stats`);
      assert.equal(stats.status, 200);
      assert.equal(stats.body.total_analyses, before.body.total_analyses);
      assert.deepEqual(stats.body.trend_data, before.body.trend_data);
      assert.match(stats.body.stale.reason, /locked by another process or host/);
      assert.ok(Date.parse(stats.body.stale.as_of) > 0);
    } finally {
      await holder.release();
    }
    const answers = await uploads;
    assert.deepEqual(answers.map((a) => a.status), Array(20).fill(200), JSON.stringify(answers.find((a) => a.status !== 200)?.body));
    assert.deepEqual(answers.map((a) => a.body.file_hash), codes.map(sha256));
    const after = await getJson(`${server.url}/api/stats`);
    assert.equal(after.body.total_analyses, before.body.total_analyses + 20);
    assert.equal(after.body.stale, undefined, "fresh figures once the lock is gone");
    assert.equal(countRows(dbOf(server)), 21);
    const health = await waitFor("health after release", () => healthOf(server.url), (h) => h.body.checks.database.state === "ok");
    assert.equal(health.status, 200);
  } finally {
    await server.stop();
  }
});

test("a long write elsewhere (RESERVED lock): reads stay fresh, not stale; the waiting upload completes when it ends", async () => {
  const server = await startServer({ env: { DB_BUSY_RETRY_SECONDS: "30", HEALTH_INTERVAL_SECONDS: "1" } });
  try {
    const known = await upload(server.url, "known.py", "known = 1\n");
    const holder = await holdLock(dbOf(server), "IMMEDIATE");
    let waiting: ReturnType<typeof upload> | undefined;
    try {
      waiting = upload(server.url, "waiting.py", "waiting = 1\n");
      await waitFor("health while a write elsewhere holds the lock", () => healthOf(server.url), (h) => h.body.checks.database.state === "busy");
      const stats = await getJson(`${server.url}/api/stats`);
      assert.equal(stats.status, 200);
      assert.equal(stats.body.total_analyses, 1);
      assert.equal(stats.body.stale, undefined, "read now, the lock allows it");
      const stored = await getJson(`${server.url}/api/analysis/${known.body.file_hash}`);
      assert.equal(stored.status, 200);
      assert.equal(stored.body.file_hash, known.body.file_hash);
    } finally {
      await holder.release();
    }
    assert.equal((await waiting).status, 200);
    assert.equal(countRows(dbOf(server)), 2);
  } finally {
    await server.stop();
  }
});

test("a lock held past the retry deadline: uploads get 503 with Retry-After and leave nothing; health turns 503 past twice the deadline, then recovers", async () => {
  const server = await startServer({ env: { DB_BUSY_RETRY_SECONDS: "1", HEALTH_INTERVAL_SECONDS: "1" } });
  try {
    const holder = await holdLock(dbOf(server));
    try {
      const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => upload(server.url, `late_${i}.py`, `late = ${i}\n`)));
      for (const answer of answers) {
        assert.equal(answer.status, 503);
        assert.match(answer.body.error, /could not be saved/);
        assert.ok(Number(answer.headers.get("retry-after")) > 0);
        assertNoHostDetails(answer.body, server);
      }
      assert.deepEqual(filesUnder(path.join(server.dataDir, "uploads")).filter((f) => f.endsWith(".py")), [], "no upload file without its row");
      // asked back to back for longer than a read waits for the lock: always the last figures, marked stale
      for (const until = Date.now() + 2500; Date.now() < until; ) {
        const stats = await getJson(`${server.url}/api/stats`);
        assert.equal(stats.status, 200, JSON.stringify(stats.body));
        assert.equal(stats.body.total_analyses, 0);
        assert.ok(stats.body.stale);
      }
      const unhealthy = await waitFor("health while locked too long", () => healthOf(server.url), (h) => h.status === 503);
      assert.equal(unhealthy.body.checks.database.ok, false);
      assert.equal(unhealthy.body.checks.database.state, "busy");
      assert.match(unhealthy.body.checks.database.error!, /locked by another process or host for \d+ s, longer than the 2 s allowed/);
      assertNoHostDetails(unhealthy.body, server);
    } finally {
      await holder.release();
    }
    await waitFor("health after release", () => healthOf(server.url), (h) => h.status === 200);
    assert.equal(countRows(dbOf(server)), 0, "the refused uploads were not counted");
  } finally {
    await server.stop();
  }
});

test("a database file that is not a database stops the start: exit 1, one line naming the problem and what to do", async () => {
  const dataDir = tempDir();
  fs.mkdirSync(path.join(dataDir, "database"));
  fs.writeFileSync(path.join(dataDir, "database", "codedetect.db"), "this is not a database\n".repeat(400));
  const { code, stderr } = await startRefused(dataDir);
  assert.equal(code, 1);
  assert.equal(stderr.trim().split("\n").length, 1, stderr);
  assert.match(stderr, /^codedetect: cannot use the database under .+: database\/codedetect\.db: database file is corrupt \(SQLITE_NOTADB: file is not a database\); restore it from a backup/);
});

test("a database with damaged pages stops the start: exit 1 with quick_check's findings and what to do", async () => {
  const server = await startServer();
  assert.equal(await server.stop(), 0);
  const db = new Database(dbOf(server));
  const insert = db.prepare("INSERT INTO analysis (file_hash, timestamp, score) VALUES (?, ?, 90)");
  for (let i = 0; i < 500; i++) insert.run(sha256(String(i)), new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString());
  const leaf = db.prepare("SELECT pageno FROM dbstat WHERE name = 'analysis' AND pagetype = 'leaf' LIMIT 1").pluck().get() as number;
  const pageSize = db.pragma("page_size", { simple: true }) as number;
  db.close();
  // a leaf page claiming more cells than it holds: quick_check lists what it finds
  const fd = fs.openSync(dbOf(server), "r+");
  const header = Buffer.alloc(5);
  fs.readSync(fd, header, 0, 5, (leaf - 1) * pageSize);
  header.writeUInt16BE(header.readUInt16BE(3) + 5, 3);
  fs.writeSync(fd, header, 0, 5, (leaf - 1) * pageSize);
  fs.closeSync(fd);

  const { code, stderr } = await startRefused(server.dataDir);
  assert.equal(code, 1);
  assert.equal(stderr.trim().split("\n").length, 1, stderr);
  assert.match(stderr, /database file is corrupt \(quick_check found \d+ problems?: Tree \d+ page \d+.*\); restore it from a backup/);
});

test("a database whose table root page is garbage stops the start too: exit 1, SQLite's own error and what to do", async () => {
  const server = await startServer();
  assert.equal(await server.stop(), 0);
  damageTable(dbOf(server), "analysis");
  const { code, stderr } = await startRefused(server.dataDir);
  assert.equal(code, 1);
  assert.equal(stderr.trim().split("\n").length, 1, stderr);
  assert.match(stderr, /database file is corrupt \(SQLITE_CORRUPT: database disk image is malformed\); restore it from a backup/);
});

test("a file damaged while the server runs: the upload that meets it gets 503, health turns 503 naming it, a restored backup is taken up", async () => {
  const server = await startServer({ env: { HEALTH_INTERVAL_SECONDS: "1" } });
  try {
    assert.equal((await upload(server.url, "kept.py", "kept = 1\n")).status, 200);
    const backup = path.join(tempDir(), "backup.db");
    await backupSqlite(dbOf(server), backup);
    damageTable(dbOf(server), "analysis");
    const answer = await upload(server.url, "after.py", "after = 2\n");
    assert.equal(answer.status, 503);
    const health = await waitFor("health of a corrupt database", () => healthOf(server.url), (h) => h.status === 503);
    assert.equal(health.body.status, "unhealthy");
    assert.equal(health.body.checks.database.state, "broken");
    assert.match(health.body.checks.database.error!, /^database: database file is corrupt \(SQLITE_CORRUPT: database disk image is malformed\); restore it from a backup/);
    assertNoHostDetails(health.body, server);
    assert.equal((await getJson(`${server.url}/api/stats`)).status, 503, "no figures from a file that cannot be trusted");
    assert.equal((await healthOf(server.url)).status, 503, "a passing heartbeat does not hide the damage");

    const restoring = `${dbOf(server)}.restoring`;
    fs.copyFileSync(backup, restoring);
    fs.renameSync(restoring, dbOf(server));
    await waitFor("health after the restore", () => healthOf(server.url), (h) => h.status === 200);
    assert.equal((await upload(server.url, "after.py", "after = 2\n")).status, 200);
    assert.equal((await getJson(`${server.url}/api/stats`)).body.total_analyses, 2);
  } finally {
    await server.stop();
  }
});

test("a file overwritten with garbage while the server runs: health names SQLITE_NOTADB", async () => {
  const server = await startServer({ env: { HEALTH_INTERVAL_SECONDS: "1" } });
  try {
    const size = fs.statSync(dbOf(server)).size;
    const fd = fs.openSync(dbOf(server), "r+");
    fs.writeSync(fd, Buffer.alloc(size, 0x5a), 0, size, 0);
    fs.closeSync(fd);
    const health = await waitFor("health of a garbage file", () => healthOf(server.url), (h) => h.status === 503);
    assert.match(health.body.checks.database.error!, /database file is corrupt \(SQLITE_NOTADB: file is not a database\)/);
    assertNoHostDetails(health.body, server);
  } finally {
    await server.stop();
  }
});

test("the database file replaced by a backup while the server runs: the server serves the backup's data and writes to it", async () => {
  const server = await startServer();
  try {
    const first = await upload(server.url, "first.py", "first = 1\n");
    const backup = path.join(tempDir(), "backup.db");
    await backupSqlite(dbOf(server), backup);
    const second = await upload(server.url, "second.py", "second = 2\n");
    assert.equal((await getJson(`${server.url}/api/stats`)).body.total_analyses, 2);

    const restoring = `${dbOf(server)}.restoring`;
    fs.copyFileSync(backup, restoring);
    fs.renameSync(restoring, dbOf(server));
    const stats = await getJson(`${server.url}/api/stats`);
    assert.equal(stats.status, 200);
    assert.equal(stats.body.total_analyses, 1, "the backup's figures");
    assert.equal((await getJson(`${server.url}/api/analysis/${first.body.file_hash}`)).status, 200);
    assert.equal((await getJson(`${server.url}/api/analysis/${second.body.file_hash}`)).status, 404, "not in the backup");
    assert.equal((await upload(server.url, "third.py", "third = 3\n")).status, 200);
    assert.equal(countRows(dbOf(server)), 2, "the new upload went into the restored file");
    assert.ok(server.lines.some((line) => line.includes("database file replaced")));
  } finally {
    await server.stop();
  }
});

test("the database file removed while the server runs: health says so, nothing is recreated empty, a restored file is taken up", async () => {
  const server = await startServer({ env: { HEALTH_INTERVAL_SECONDS: "1" } });
  try {
    assert.equal((await upload(server.url, "kept.py", "kept = 1\n")).status, 200);
    const backup = path.join(tempDir(), "backup.db");
    await backupSqlite(dbOf(server), backup);
    fs.rmSync(dbOf(server));
    const health = await waitFor("health without a database file", () => healthOf(server.url), (h) => h.status === 503);
    assert.equal(health.body.checks.database.state, "broken");
    assert.match(health.body.checks.database.error!, /^database: database file is missing \(removed or renamed while the server runs\); restore it from a backup/);
    assertNoHostDetails(health.body, server);
    const refused = await upload(server.url, "lost.py", "lost = 1\n");
    assert.equal(refused.status, 503);
    assert.equal((await getJson(`${server.url}/api/stats`)).status, 503);
    assert.equal(fs.existsSync(dbOf(server)), false, "no empty database created in its place");

    fs.copyFileSync(backup, `${dbOf(server)}.restoring`);
    fs.renameSync(`${dbOf(server)}.restoring`, dbOf(server));
    await waitFor("health after the restore", () => healthOf(server.url), (h) => h.status === 200);
    assert.equal((await getJson(`${server.url}/api/stats`)).body.total_analyses, 1);
  } finally {
    await server.stop();
  }
});

test("an empty file where the database was (a restore being copied in): reported and left alone, taken up once it has content", async () => {
  const server = await startServer({ env: { HEALTH_INTERVAL_SECONDS: "1" } });
  try {
    assert.equal((await upload(server.url, "kept.py", "kept = 1\n")).status, 200);
    const backup = path.join(tempDir(), "backup.db");
    await backupSqlite(dbOf(server), backup);
    fs.rmSync(dbOf(server));
    fs.writeFileSync(dbOf(server), "");
    const health = await waitFor("health with an empty file", () => healthOf(server.url), (h) => /empty/.test(h.body.checks.database.error ?? ""));
    assert.equal(health.status, 503);
    assert.match(health.body.checks.database.error!, /^database: database file is empty \(a restore still being copied, or truncated\); restore it from a backup/);
    assert.equal((await upload(server.url, "lost.py", "lost = 1\n")).status, 503);
    assert.equal(fs.statSync(dbOf(server)).size, 0, "no schema written into it");

    fs.writeFileSync(dbOf(server), fs.readFileSync(backup)); // the copy completes, in place
    await waitFor("health after the copy", () => healthOf(server.url), (h) => h.status === 200);
    assert.equal((await getJson(`${server.url}/api/stats`)).body.total_analyses, 1);
  } finally {
    await server.stop();
  }
});

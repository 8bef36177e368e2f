// The retention sweep on a real database and real files: expired results, reports and uploads go; statistics stay.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { sweepOnce } from "../../server/retention.ts";
import { openSqliteStore } from "../../server/store/sqlite.ts";
import { openFileStore } from "../../server/uploads/file-store.ts";
import { tempDir } from "../helpers/server-process.ts";

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

test("a repeat upload keeps content alive: retention counts from the last upload", async () => {
  const dir = tempDir();
  const store = await openSqliteStore({ file: path.join(dir, "c.db"), busyDeadlineMs: 2000 });
  const files = await openFileStore(path.join(dir, "uploads"));
  const now = new Date("2026-03-20T12:00:00.000Z");
  const hash = "d".repeat(64);
  const first = new Date(now.getTime() - 8 * DAY);
  await files.put(hash, Buffer.from("x = 1\n"));
  await store.recordAnalysis({ fileHash: hash, timestamp: first.toISOString(), score: 100, totalIssues: 0, securityIssues: 0, complexityIssues: 0 }, JSON.stringify({ score: 100, summary: { total_issues: 0, security_issues: 0, high_complexity_functions: 0 } }));
  await store.recordRepeat(hash, new Date(now.getTime() - DAY).toISOString());
  assert.equal(await files.put(hash, Buffer.from("x = 1\n")), "existing");
  assert.deepEqual(await sweepOnce(store, files, 7, now), { results: 0, reports: 0, files: 0 });
  assert.ok(await store.findResult(hash));
  await store.close();
});

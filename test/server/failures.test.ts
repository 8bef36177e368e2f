// What clients and the load balancer see when things go wrong: a full queue, a locked database, broken storage.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { stdlibSource } from "../helpers/python-sources.ts";
import { uploadFrom } from "../helpers/raw-client.ts";
import { filesUnder, startServer, upload } from "../helpers/server-process.ts";

const large = stdlibSource("tarfile");
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function healthOf(url: string) {
  const response = await fetch(`${url}/api/health`);
  return { status: response.status, body: (await response.json()) as { status: string; checks: Record<string, { ok: boolean; error?: string }> } };
}

async function waitFor<T>(what: string, probe: () => Promise<T>, done: (value: T) => boolean, deadlineMs = 15_000): Promise<T> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (done(value)) return value;
    if (Date.now() > until) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await sleep(200);
  }
}

test("a full analysis queue answers 503 with Retry-After at once, and the accepted analyses still succeed", async () => {
  const server = await startServer({ env: { ANALYZER_WORKERS: "1", ANALYZER_QUEUE: "1" } });
  try {
    // four clients (four loopback addresses), each within its own share: the queue as a whole is what is full
    const answers = await Promise.all(Array.from({ length: 4 }, (_, i) => uploadFrom(server.url, `load_${i}.py`, `${large}\n# ${i}\n`, { from: `127.0.0.${i + 1}` })));
    const busy = answers.filter((a) => a.status === 503);
    const done = answers.filter((a) => a.status === 200);
    assert.equal(done.length, 2, "one running and one waiting are accepted");
    assert.equal(busy.length, 2);
    for (const answer of busy) {
      assert.match(answer.body.error, /busy/i);
      assert.ok(Number(answer.headers["retry-after"]) > 0);
    }
    const stats = (await (await fetch(`${server.url}/api/stats`)).json()) as { total_analyses: number };
    assert.equal(stats.total_analyses, 2, "refused uploads are not counted");
    assert.equal(filesUnder(path.join(server.dataDir, "uploads")).filter((f) => f.endsWith(".py")).length, 2);
  } finally {
    await server.stop();
  }
});

test("a database locked beyond the retry deadline: upload answers 503, nothing is kept; health turns 503 and recovers", async () => {
  const server = await startServer({ env: { DB_BUSY_RETRY_SECONDS: "1", HEALTH_INTERVAL_SECONDS: "1" } });
  const holder = new Database(path.join(server.dataDir, "database", "codedetect.db"));
  try {
    holder.exec("BEGIN EXCLUSIVE");
    const answer = await upload(server.url, "blocked.py", "value = 42\n");
    assert.equal(answer.status, 503);
    assert.match(answer.body.error, /could not be saved.*database/);
    assert.ok(answer.headers.get("retry-after"));
    assert.deepEqual(filesUnder(path.join(server.dataDir, "uploads")).filter((f) => f.endsWith(".py")), [], "no upload file without its row");
    const unhealthy = await waitFor("health while locked", () => healthOf(server.url), (h) => h.status === 503);
    assert.equal(unhealthy.body.checks.database!.ok, false);
    assert.match(unhealthy.body.checks.database!.error ?? "", /locked/);
    holder.exec("ROLLBACK");
    await waitFor("health after unlock", () => healthOf(server.url), (h) => h.status === 200);
    assert.equal((await upload(server.url, "blocked.py", "value = 42\n")).status, 200);
    const db = new Database(path.join(server.dataDir, "database", "codedetect.db"), { readonly: true });
    assert.equal((db.prepare("SELECT COUNT(*) AS n FROM analysis").get() as { n: number }).n, 1, "only the acknowledged upload has a row");
    db.close();
  } finally {
    holder.close();
    await server.stop();
  }
});

test("storage that no longer takes writes: health turns 503 naming it without host paths, uploads answer 503 and are not counted", async () => {
  const server = await startServer({ env: { HEALTH_INTERVAL_SECONDS: "1" } });
  try {
    assert.equal((await healthOf(server.url)).status, 200);
    const temp = path.join(server.dataDir, "uploads", ".tmp");
    fs.rmSync(temp, { recursive: true });
    fs.writeFileSync(temp, "not a directory");
    const health = await waitFor("health with broken storage", () => healthOf(server.url), (h) => h.status === 503);
    assert.equal(health.body.status, "unhealthy");
    assert.equal(health.body.checks.storage!.ok, false);
    assert.match(health.body.checks.storage!.error ?? "", /^upload storage does not take writes: ENOTDIR \(not a directory\)$/);
    assert.equal(health.body.checks.database!.ok, true);
    const text = JSON.stringify(health.body);
    assert.ok(!text.includes(server.dataDir), `no data directory in the answer: ${text}`);
    assert.ok(!text.includes(`${server.child.pid}-`), `no process id in the answer: ${text}`);
    assert.doesNotMatch(text, /"python":"\//, "no interpreter path either");
    const answer = await upload(server.url, "unsaved.py", "answer = 42\n");
    assert.equal(answer.status, 503);
    assert.match(answer.body.error, /could not be saved/);
    const stats = (await (await fetch(`${server.url}/api/stats`)).json()) as { total_analyses: number };
    assert.equal(stats.total_analyses, 0, "no row for an upload whose file could not be stored");
  } finally {
    await server.stop();
  }
});

test("an uploads directory restored without its temp folder: the folder is made again and uploads go on", async () => {
  const server = await startServer({ env: { HEALTH_INTERVAL_SECONDS: "1" } });
  try {
    fs.rmSync(path.join(server.dataDir, "uploads", ".tmp"), { recursive: true });
    assert.equal((await upload(server.url, "after.py", "after = 1\n")).status, 200);
    assert.equal((await healthOf(server.url)).status, 200);
    assert.ok(fs.statSync(path.join(server.dataDir, "uploads", ".tmp")).isDirectory());
  } finally {
    await server.stop();
  }
});

test("CORS: only configured origins are allowed, by name", async () => {
  const server = await startServer({ env: { CORS_ORIGINS: "https://dashboard.example.org" } });
  try {
    const allowed = await fetch(`${server.url}/api/stats`, { headers: { origin: "https://dashboard.example.org" } });
    assert.equal(allowed.headers.get("access-control-allow-origin"), "https://dashboard.example.org");
    const other = await fetch(`${server.url}/api/stats`, { headers: { origin: "https://elsewhere.example.org" } });
    assert.equal(other.headers.get("access-control-allow-origin"), null);
  } finally {
    await server.stop();
  }
});

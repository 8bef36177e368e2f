// The two-servers test on PostgreSQL: two server processes on one DATABASE_URL, 200 same-file and 200 distinct uploads at concurrency 8.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import path from "node:path";
import { after, before, test } from "node:test";
import pg from "pg";
import { postgresGate, startPostgres, type RunningPostgres } from "../helpers/postgres.ts";
import { filesUnder, startServer, tempDir, upload, type RunningServer } from "../helpers/server-process.ts";

const UPLOADS = 200;
const CONCURRENCY = 8;
const gate = postgresGate();
let postgres: RunningPostgres | undefined;
let servers: RunningServer[] = [];
let dataDir: string;

before(async () => {
  if (gate.mustFail) throw new Error("PostgreSQL is required under CI and is unavailable");
  if (gate.skip) return;
  postgres = await startPostgres();
  postgres.createDatabase("shared");
  dataDir = tempDir(); // uploads stay on the shared volume; only the database moves
  // one test client sends all uploads: its per-client share must hold them all (fair sharing is tested elsewhere)
  const env = { CLIENT_MAX_ANALYSES: String(CONCURRENCY), DATABASE_URL: postgres.url("shared") };
  servers = await Promise.all([startServer({ dataDir, env }), startServer({ dataDir, env })]);
});
after(async () => {
  for (const server of servers) assert.equal(await server.stop(), 0);
  postgres?.destroy();
});

async function sendAll(files: Array<{ name: string; code: string }>) {
  const answers: Array<{ status: number; body: any }> = new Array(files.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < files.length) {
        const index = next++;
        const file = files[index]!;
        answers[index] = await upload(servers[index % servers.length]!.url, file.name, file.code);
      }
    }),
  );
  return answers;
}

async function rows(): Promise<Array<{ file_hash: string; score: number }>> {
  const client = new pg.Client({ connectionString: postgres!.url("shared") });
  await client.connect();
  try {
    return (await client.query("SELECT file_hash, score FROM analysis ORDER BY id")).rows;
  } finally {
    await client.end();
  }
}

const variant = (i: number) => `import os\n\n\ndef handler_${i}(value):\n    """Variant ${i}."""\n    return eval(value)\n`;

test("200 uploads of the same file through two hosts on PostgreSQL: every one acknowledged, one row each, the same right score", { skip: gate.skip }, async () => {
  const reference = await upload(servers[0]!.url, "reference.py", variant(0));
  assert.equal(reference.status, 200);
  const rowsBefore = (await rows()).length;
  const answers = await sendAll(Array.from({ length: UPLOADS }, () => ({ name: "same.py", code: variant(0) })));
  const statuses = answers.map((a) => a.status);
  assert.deepEqual([...new Set(statuses)], [200], `statuses: ${statuses.join(",")}`);
  assert.ok(answers.every((a) => a.body.score === reference.body.score));
  const added = (await rows()).slice(rowsBefore);
  assert.equal(added.length, UPLOADS);
  assert.ok(added.every((r) => r.score === reference.body.score && r.file_hash === reference.body.file_hash));
});

test("200 distinct files through two hosts on PostgreSQL: rows equal acknowledged uploads, each stored score right, files stored by hash", { skip: gate.skip }, async () => {
  const files = Array.from({ length: UPLOADS }, (_, i) => ({ name: `variant_${i + 1}.py`, code: variant(i + 1) }));
  const rowsBefore = (await rows()).length;
  const answers = await sendAll(files);
  const failures = answers.filter((a) => a.status !== 200);
  assert.equal(failures.length, 0, JSON.stringify(failures.slice(0, 3)));
  const all = await rows();
  const added = all.slice(rowsBefore);
  assert.equal(added.length, UPLOADS);
  const scoreByHash = new Map(added.map((r) => [r.file_hash, r.score]));
  const stored = new Set(filesUnder(path.join(dataDir, "uploads")));
  files.forEach((file, i) => {
    const hash = createHash("sha256").update(file.code).digest("hex");
    assert.equal(answers[i]!.body.file_hash, hash);
    assert.equal(scoreByHash.get(hash), answers[0]!.body.score, `row for ${file.name}`);
    assert.ok(stored.has(`${hash}.py`), `upload file for ${file.name}`);
  });
  const stats = (await (await fetch(`${servers[1]!.url}/api/stats`)).json()) as { total_analyses: number };
  assert.equal(stats.total_analyses, all.length);
});

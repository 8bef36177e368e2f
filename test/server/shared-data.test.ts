// Two server processes sharing one DATA_DIR (as two hosts share EFS): 200 uploads at concurrency 8, no loss, no 5xx.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import path from "node:path";
import { after, before, test } from "node:test";
import Database from "better-sqlite3";
import { filesUnder, startServer, tempDir, upload, type RunningServer } from "../helpers/server-process.ts";

const UPLOADS = 200;
const CONCURRENCY = 8;
let servers: RunningServer[];
let dataDir: string;

before(async () => {
  dataDir = tempDir();
  // one test client sends all uploads: its per-client share must hold them all (fair sharing is tested elsewhere)
  const env = { CLIENT_MAX_ANALYSES: String(CONCURRENCY) };
  servers = await Promise.all([startServer({ dataDir, env }), startServer({ dataDir, env })]);
});
after(async () => {
  for (const server of servers) assert.equal(await server.stop(), 0);
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

function rows(): Array<{ file_hash: string; score: number }> {
  const db = new Database(path.join(dataDir, "database", "codedetect.db"), { readonly: true });
  try {
    return db.prepare("SELECT file_hash, score FROM analysis ORDER BY id").all() as Array<{ file_hash: string; score: number }>;
  } finally {
    db.close();
  }
}

const variant = (i: number) => `import os\n\n\ndef handler_${i}(value):\n    """Variant ${i}."""\n    return eval(value)\n`;

test("200 uploads of the same file through two hosts: every one acknowledged, one row each, the same right score", async () => {
  const reference = await upload(servers[0]!.url, "reference.py", variant(0));
  assert.equal(reference.status, 200);
  const rowsBefore = rows().length;
  const answers = await sendAll(Array.from({ length: UPLOADS }, () => ({ name: "same.py", code: variant(0) })));
  const statuses = answers.map((a) => a.status);
  assert.deepEqual([...new Set(statuses)], [200], `statuses: ${statuses.join(",")}`);
  assert.ok(answers.every((a) => a.body.score === reference.body.score));
  const added = rows().slice(rowsBefore);
  assert.equal(added.length, UPLOADS);
  assert.ok(added.every((r) => r.score === reference.body.score && r.file_hash === reference.body.file_hash));
});

test("200 distinct files through two hosts: rows equal acknowledged uploads, each stored score right, files stored by hash", async () => {
  const files = Array.from({ length: UPLOADS }, (_, i) => ({ name: `variant_${i + 1}.py`, code: variant(i + 1) }));
  const rowsBefore = rows().length;
  const answers = await sendAll(files);
  const failures = answers.filter((a) => a.status !== 200);
  assert.equal(failures.length, 0, JSON.stringify(failures.slice(0, 3)));
  const added = rows().slice(rowsBefore);
  assert.equal(added.length, UPLOADS);
  const scoreByHash = new Map(added.map((r) => [r.file_hash, r.score]));
  const stored = new Set(filesUnder(path.join(dataDir, "uploads")));
  files.forEach((file, i) => {
    const hash = createHash("sha256").update(file.code).digest("hex");
    assert.equal(answers[i]!.body.file_hash, hash);
    // every variant has the same findings as the reference: eval (bandit B307) and an unused import
    assert.equal(scoreByHash.get(hash), answers[0]!.body.score, `row for ${file.name}`);
    assert.ok(stored.has(`${hash}.py`), `upload file for ${file.name}`);
  });
  assert.ok(answers[0]!.body.analysis.security_issues.some((i: { test_id: string }) => i.test_id === "B307"));
  const stats = (await (await fetch(`${servers[1]!.url}/api/stats`)).json()) as { total_analyses: number };
  assert.equal(stats.total_analyses, rows().length);
});

// The database file restored wrongly after it went missing: health names what is there now, not the absence that came before.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { startServer, upload } from "../helpers/server-process.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface DatabaseCheck {
  state: string;
  error?: string;
  checked_at: string;
}

/** Health as computed after `after` (the monitor checks on its interval): waits for a fresh check, asserts nothing about time. */
async function healthAfter(url: string, after: number): Promise<{ status: number; database: DatabaseCheck }> {
  for (;;) {
    const response = await fetch(`${url}/api/health`);
    const body = (await response.json()) as { checks: { database: DatabaseCheck } };
    if (Date.parse(body.checks.database.checked_at) > after) return { status: response.status, database: body.checks.database };
    await sleep(100);
  }
}

test("a missing database file replaced by one that is not a database: health says corrupt, not missing", async () => {
  const server = await startServer({ env: { HEALTH_INTERVAL_SECONDS: "1" } });
  const db = path.join(server.dataDir, "database", "codedetect.db");
  try {
    assert.equal((await upload(server.url, "kept.py", "kept = 1\n")).status, 200);
    fs.rmSync(db);
    // an upload meets the missing file
    const lost = await upload(server.url, "lost.py", "lost = 1\n");
    assert.equal(lost.status, 503);
    const missing = await healthAfter(server.url, Date.now());
    assert.match(missing.database.error ?? "", /database file is missing/);

    // the operator "restores" something that is not a SQLite database
    fs.writeFileSync(db, Buffer.alloc(8192, 0x41));
    const refused = await upload(server.url, "again.py", "again = 1\n");
    assert.equal(refused.status, 503);
    // the database thread announces its condition before it answers: the next health check knows what the upload met
    const now = await healthAfter(server.url, Date.now());
    assert.equal(now.status, 503);
    assert.equal(now.database.state, "broken");
    assert.match(now.database.error ?? "", /^database: database file is corrupt \(SQLITE_NOTADB/, JSON.stringify(now));
    assert.doesNotMatch(now.database.error ?? "", /missing/);
  } finally {
    await server.stop();
  }
});

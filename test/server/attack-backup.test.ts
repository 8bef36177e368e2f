// `npm run backup -- DEST` pointed at the live database (its path, another spelling of it, a link to it) is refused: the copy would replace it.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { execa } from "execa";
import { ROOT, tempDir } from "../helpers/server-process.ts";

test("backup onto the live database file is refused and leaves it untouched", async (t) => {
  const dataDir = tempDir();
  t.after(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const live = path.join(dataDir, "database", "codedetect.db");
  fs.mkdirSync(path.dirname(live));
  const db = new Database(live);
  db.exec("CREATE TABLE kept (x); INSERT INTO kept VALUES (1)");
  db.close();
  const link = path.join(dataDir, "link.db");
  fs.symlinkSync(live, link);
  const inode = fs.statSync(live).ino;
  for (const destination of [live, path.join(dataDir, "database", ".", "codedetect.db"), link]) {
    const result = await execa(process.execPath, [path.join(ROOT, "server/backup-cli.ts"), destination], { reject: false, env: { DATA_DIR: dataDir } });
    assert.equal(result.exitCode, 1, `${destination}: ${result.stdout}`);
    assert.equal(result.stderr, `codedetect backup: ${path.resolve(destination)} is the live database itself; give the copy another file name`);
    assert.equal(fs.statSync(live).ino, inode, "the live file is the same file");
  }
  // a real destination still works
  const copy = path.join(dataDir, "copy.db");
  const ok = await execa(process.execPath, [path.join(ROOT, "server/backup-cli.ts"), copy], { reject: false, env: { DATA_DIR: dataDir } });
  assert.equal(ok.exitCode, 0, ok.stderr);
  const copied = new Database(copy, { readonly: true });
  assert.deepEqual(copied.prepare("SELECT x FROM kept").pluck().all(), [1]);
  copied.close();
});

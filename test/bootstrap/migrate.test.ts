// The migration's promises through the real agent: never migrate into a tree a fleet already serves, keep every upload, record a marker.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { describe, it } from "node:test";
import { bundleAgent } from "../../bootstrap/bundle.ts";
import { assertConverged, journal, makeOldLayout, runAgent, tempDir } from "./helpers.ts";

function setup(files: number, rows: number) {
  const root = tempDir("migrate");
  const source = path.join(root, "old");
  makeOldLayout(source, files, rows);
  const shared = path.join(root, "shared");
  const args = ["--local", "--state-dir", path.join(root, "state"), "--shared-dir", shared, "--migrate-from", source];
  return { root, source, shared, tree: path.join(shared, "codedetect"), args };
}

const count = (file: string) => {
  const db = new DatabaseSync(file, { readOnly: true });
  try {
    return (db.prepare("SELECT count(*) AS n FROM analysis").get() as { n: number }).n;
  } finally {
    db.close();
  }
};

describe("migrate", () => {
  it("a tree a fleet already serves (a database, no marker) is refused in one line with the next step, and nothing is written", async () => {
    const { tree, args, root, source } = setup(5, 40);
    fs.mkdirSync(path.join(tree, "database"), { recursive: true });
    const live = path.join(tree, "database", "codedetect.db");
    const existing = new DatabaseSync(live);
    existing.exec("CREATE TABLE analysis (id INTEGER PRIMARY KEY, file_hash TEXT, timestamp TEXT, score INTEGER); INSERT INTO analysis (score) VALUES (1), (2)");
    existing.close();
    const before = fs.readFileSync(live);
    const result = await runAgent(args);
    assert.equal(result.code, 1, result.stdout);
    const line = result.stderr.replace(/\n$/, "");
    assert.doesNotMatch(line, /\n/, "one line");
    assert.match(line, /^bootstrap: step migrate: migrate .* into .*codedetect: the shared tree already serves a database \(analysis: 2 rows\) and has no migration marker/);
    assert.ok(line.includes(`next: to keep only the fleet's data, move ${source} aside or set migrateFrom to ""`), line);
    assert.ok(line.includes(`to serve the old data instead, stop every instance (scale the group to 0), move ${live} aside, and re-run`), line);
    assert.deepEqual(fs.readFileSync(live), before, "the served database is untouched");
    assert.deepEqual(fs.readdirSync(path.join(tree, "database")), ["codedetect.db"], "no archive beside it");
    assert.deepEqual(fs.readdirSync(path.join(tree, "uploads")), [], "no old upload linked in");
    assert.equal(fs.existsSync(path.join(tree, ".migrated.json")), false);
    assert.equal(fs.existsSync(path.join(tree, ".migration")), false, "no staging left");
    assert.equal(journal(path.join(root, "state")).steps.migrate!.outcome, "failed");
    // The operator's first way on: keep the fleet's data (migrateFrom off); the agent then has nothing to migrate.
    const kept = await runAgent(args.filter((arg) => arg !== "--migrate-from" && arg !== source), { CODEDETECT_MIGRATE_FROM: "" });
    assert.equal(kept.code, 0, kept.stderr);
    assert.deepEqual(fs.readFileSync(live), before);
  });

  it("an upload name already taken with other content keeps both: the shared one stays, the migrated one goes to migration-conflicts/", async () => {
    const { tree, args, source } = setup(3, 1);
    const name = fs.readdirSync(path.join(source, "uploads")).find((entry) => entry.endsWith(".py"))!;
    fs.mkdirSync(path.join(tree, "uploads"), { recursive: true });
    fs.writeFileSync(path.join(tree, "uploads", name), "print('written by a running server')\n");
    const result = await runAgent(args);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(fs.readFileSync(path.join(tree, "uploads", name), "utf8"), "print('written by a running server')\n");
    assert.deepEqual(fs.readFileSync(path.join(tree, "migration-conflicts", "uploads", name)), fs.readFileSync(path.join(source, "uploads", name)));
    assert.match(result.stdout, new RegExp(`uploads/${name.replace(".", "\\.")} exists with other content; the migrated one is migration-conflicts/uploads/`));
  });

  it("the marker says who, when, what and every checksum; symlinks are not followed but listed", async () => {
    const { tree, args, source } = setup(4, 3);
    fs.symlinkSync("/etc/passwd", path.join(source, "uploads", "evil.py"));
    const result = await runAgent(args);
    assert.equal(result.code, 0, result.stderr);
    const marker = JSON.parse(fs.readFileSync(path.join(tree, ".migrated.json"), "utf8"));
    assert.match(marker.holder, /^local-[0-9a-f]{12}$/);
    assert.ok(Date.parse(marker.finishedAt) > Date.now() - 60_000);
    assert.equal(marker.source, source);
    assert.deepEqual(marker.skipped, ["evil.py"]);
    assert.equal(fs.existsSync(path.join(tree, "uploads", "evil.py")), false);
    assert.equal(marker.files.length, 4);
    for (const file of marker.files) {
      assert.equal(file.sha256, createHash("sha256").update(fs.readFileSync(path.join(source, "uploads", file.path))).digest("hex"));
    }
    assert.deepEqual(marker.database.rows, { analysis: 3 });
    assert.equal(marker.database.integrity, "ok");
  });

  it("a database in use by the old server (WAL, open writer) is copied consistently, in rollback-journal mode, with the owner uid 1000", async () => {
    const { tree, args, source } = setup(1, 10);
    const writer = new DatabaseSync(path.join(source, "database", "codedetect.db"));
    writer.exec("PRAGMA journal_mode=WAL; INSERT INTO analysis (score) VALUES (99)");
    try {
      const result = await runAgent(args);
      assert.equal(result.code, 0, result.stderr);
    } finally {
      writer.close();
    }
    const file = path.join(tree, "database", "codedetect.db");
    assert.equal(count(file), 11, "the row only in the WAL is there too");
    const db = new DatabaseSync(file, { readOnly: true });
    assert.equal((db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode, "delete");
    db.close();
    if (process.getuid?.() === 0) {
      assert.equal(fs.statSync(file).uid, 1000);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    }
  });

  it("a damaged old database stops the migration before anything is placed, in one line saying how to repair it", async () => {
    const { tree, args, source } = setup(3, 200);
    const file = path.join(source, "database", "codedetect.db");
    const handle = fs.openSync(file, "r+");
    fs.writeSync(handle, Buffer.alloc(4096, 0xff), 0, 4096, 4096);
    fs.closeSync(handle);
    const result = await runAgent(args);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^bootstrap: step migrate: copy the old database .*codedetect\.db: .*; next: the old database is damaged: repair it \(sqlite3 .* \.recover\) or move it aside to migrate only the uploads, then re-run\n$/);
    assert.deepEqual(fs.readdirSync(path.join(tree, "database")), []);
    assert.deepEqual(fs.readdirSync(path.join(tree, "uploads")), []);
    assert.equal(fs.existsSync(path.join(tree, ".migrated.json")), false);
    fs.renameSync(file, `${file}.damaged`);
    const again = await runAgent(args);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /migrated 3 upload\(s\) and no database/);
  });

  it("from the one-file bundle, far from node_modules, the copy workers and the lease renewer run the bundle itself", async () => {
    const { tree, args, source } = setup(30, 5);
    const agent = path.join(tempDir("cdagent-bundle-migrate"), "agent.mjs");
    await bundleAgent(agent);
    const result = await runAgent(args, { NODE_PATH: "" }, { script: agent, cwd: path.dirname(agent) });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /migrated 30 upload\(s\) and the database \(analysis: 5 rows\)/);
    assertConverged(source, path.dirname(tree));
  });

  it("a journal that does not fit its schema stops the agent before it changes anything", async () => {
    const { root, args, tree } = setup(1, 1);
    fs.mkdirSync(path.join(root, "state"), { recursive: true });
    fs.writeFileSync(path.join(root, "state", "journal.json"), JSON.stringify({ version: 1, steps: {}, extra: true }));
    const result = await runAgent(args);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^bootstrap: bad configuration: journal: .*journal\.json does not fit its schema at \(top level\): Unrecognized key: "extra"; move it aside and re-run/);
    assert.equal(fs.existsSync(tree), false);
    assert.deepEqual(fs.readdirSync(path.join(root, "state")), ["journal.json"], "nothing written, not even the identity");
  });
});

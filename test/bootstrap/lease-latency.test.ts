// The migration lock under EFS-like latency (issue 13, item 5): every metadata operation of the migration blocks its thread a few ms
// (BOOTSTRAP_TEST_FS_LATENCY_MS, a test hook: no FUSE or LD_PRELOAD here), so placing 600 files (4 round trips each) takes longer than the 5 s lease.
// Two agents judged as two hosts (BOOTSTRAP_TEST_LOCK_HOST: only the lease decides, as between EC2 instances). Before the fix the
// holder's renewal timer could not fire during the synchronous placement and the second agent took the live lock over.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { assertConverged, journal, makeOldLayout, runAgent, tempDir } from "./helpers.ts";

const FILES = 600;
const SLOW = { BOOTSTRAP_TEST_FS_LATENCY_MS: "3", CODEDETECT_MIGRATE_LEASE_SECONDS: "5" };

async function until(what: string, condition: () => boolean, limitMs = 60_000): Promise<void> {
  for (const started = Date.now(); !condition(); ) {
    assert.ok(Date.now() - started < limitMs, `waited for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function setup(name: string) {
  const source = tempDir(`${name}-old`);
  makeOldLayout(source, FILES, 50);
  const root = tempDir(name);
  const shared = path.join(root, "shared");
  const tree = path.join(shared, "codedetect");
  const agent = (host: string, onSpawn?: (child: ChildProcess) => void) =>
    runAgent(["--local", "--state-dir", path.join(root, host), "--shared-dir", shared, "--migrate-from", source], { ...SLOW, BOOTSTRAP_TEST_LOCK_HOST: host }, { onSpawn });
  return { source, root, shared, tree, agent };
}

describe("the migration lease under per-operation latency", () => {
  it("a holder placing files for longer than its lease keeps the lock: the other host waits, one migration, nothing lost or doubled", async () => {
    const { source, root, shared, tree, agent } = setup("lease-slow");
    const a = agent("host-a");
    await until("host-a's lock", () => fs.existsSync(path.join(tree, ".migration.lock")));
    const b = agent("host-b");
    const [first, second] = await Promise.all([a, b]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(second.code, 0, second.stderr);
    assert.doesNotMatch(first.stdout + second.stdout, /took over the lock/, "nobody took a live lock over");
    assert.match(journal(path.join(root, "host-a")).steps.migrate!.note!, new RegExp(`^migrated ${FILES} upload\\(s\\)`));
    assert.match(journal(path.join(root, "host-b")).steps.migrate!.note!, /^already migrated by local-[0-9a-f]{12} at .* \(waited for it\)$/);
    assertConverged(source, shared);
  });

  it("a holder frozen past its lease (a paused instance) is taken over, and once thawed writes nothing more, waits for the lock again and finds the migration finished (no FAILURE for a pause)", async () => {
    const { source, root, shared, tree, agent } = setup("lease-frozen");
    let holder: ChildProcess | null = null;
    const a = agent("host-a", (child) => (holder = child));
    await until("host-a's commit record", () => fs.existsSync(path.join(tree, ".migration", "commit.json")));
    holder!.kill("SIGSTOP");
    try {
      const second = await agent("host-b");
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /took over the lock of local-[0-9a-f]{12} .* which is gone/);
      assert.match(second.stdout, /resuming the migration .* interrupted after its commit/);
      assertConverged(source, shared);
    } finally {
      holder!.kill("SIGCONT");
    }
    const marker = fs.readFileSync(path.join(tree, ".migrated.json"));
    const first = await a;
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /lost the migration lock .*\.migration\.lock before (placing .*|removing .*|writing the marker): the lease ran out before it could be renewed \(the shared storage or this process stalled\); waiting for the lock again/);
    assert.deepEqual(fs.readFileSync(path.join(tree, ".migrated.json")), marker, "the thawed holder wrote no marker of its own");
    assertConverged(source, shared);
    assert.match(journal(path.join(root, "host-a")).steps.migrate!.note!, /^already migrated by local-[0-9a-f]{12} at /);
  });
});

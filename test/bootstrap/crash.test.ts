// Crash consistency: the agent is killed (SIGKILL) at many points inside a migration of thousands of files; every re-run converges.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { before, describe, it } from "node:test";
import { assertConverged, journal, makeOldLayout, runAgent, tempDir } from "./helpers.ts";

const FILES = 2000;
const ROWS = 700;
// Crash points, in order: 1–3 after identify, mount and layout; 4 the database copy; 5…2004 each upload copied;
// 2005 the commit record; 2006…4005 each upload moved into place; 4006 the database placed; 4007 the marker; 4008 after migrate.
const KILL_POINTS = [1, 2, 3, 4, 5, 6, 40, 700, 1500, 2003, 2004, 2005, 2006, 2007, 2400, 3100, 3900, 4004, 4005, 4006, 4007, 4008];

describe("kill -9 during bootstrap --local with a migration", () => {
  let source: string;
  before(() => {
    source = tempDir("old");
    makeOldLayout(source, FILES, ROWS);
  });

  const args = (root: string) => ["--local", "--state-dir", path.join(root, "state"), "--shared-dir", path.join(root, "shared"), "--migrate-from", source];

  for (const point of KILL_POINTS) {
    it(`killed at crash point ${point}, the re-run converges and a third run finds nothing to do`, async () => {
      const root = tempDir(`crash-${point}`);
      const killed = await runAgent(args(root), { BOOTSTRAP_CRASH_AFTER: String(point) });
      assert.equal(killed.signal, "SIGKILL", `the agent was killed at point ${point} (exit ${killed.code}, ${killed.stderr})`);
      const rerun = await runAgent(args(root));
      assert.equal(rerun.code, 0, rerun.stderr);
      assertConverged(source, path.join(root, "shared"));
      const again = await runAgent(args(root));
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /nothing to do/);
      assert.deepEqual(Object.values(journal(path.join(root, "state")).steps).map((entry) => entry.outcome), ["unchanged", "unchanged", "unchanged", "unchanged"]);
      fs.rmSync(root, { recursive: true, force: true });
    });
  }

  it("killed three times in a row (each in the move phase, resuming the last), still converges", async () => {
    const root = tempDir("crash-twice");
    assert.equal((await runAgent(args(root), { BOOTSTRAP_CRASH_AFTER: "3000" })).signal, "SIGKILL");
    assert.equal((await runAgent(args(root), { BOOTSTRAP_CRASH_AFTER: "200" })).signal, "SIGKILL");
    assert.equal((await runAgent(args(root), { BOOTSTRAP_CRASH_AFTER: "600" })).signal, "SIGKILL");
    const rerun = await runAgent(args(root));
    assert.equal(rerun.code, 0, rerun.stderr);
    assertConverged(source, path.join(root, "shared"));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("killed from outside at random moments, each re-run converges", async () => {
    for (const delay of [150, 260, 380, 520, 700, 900]) {
      const root = tempDir(`crash-at-${delay}ms`);
      await runAgent(args(root), {}, { killAfterMs: delay });
      const rerun = await runAgent(args(root));
      assert.equal(rerun.code, 0, `after a kill at ${delay} ms: ${rerun.stderr}`);
      assertConverged(source, path.join(root, "shared"));
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});

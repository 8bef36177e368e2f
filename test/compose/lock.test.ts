// The deploy lock: one up or down at a time per host; a lock left behind by a dead process does not block forever.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { deployInProgress, withLock } from "../../compose/lock.ts";

describe("withLock", () => {
  it("refuses while a live process holds the lock, naming it, and releases after the work", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lock-"));
    await withLock(dir, "up v1", async () => {
      await assert.rejects(withLock(dir, "up v2", async () => "never"), /^ComposeError: up v2: another deploy is in progress: .*lock is held by pid \d+ \(up v1\) since .*; next: wait for it to finish, or remove/);
    });
    assert.equal(fs.existsSync(path.join(dir, "lock")), false);
    assert.equal(await withLock(dir, "up v2", async () => "done"), "done");
  });

  it("takes over a lock whose holder is gone, and releases on failure too", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lock-"));
    const dead = spawnSync("true").pid;
    fs.mkdirSync(path.join(dir, "lock"));
    fs.writeFileSync(path.join(dir, "lock", "details.json"), JSON.stringify({ pid: dead, host: os.hostname(), command: "up v0", since: "earlier" }));
    await assert.rejects(withLock(dir, "up v1", async () => Promise.reject(new Error("boom"))), /boom/);
    assert.equal(fs.existsSync(path.join(dir, "lock")), false);
  });

  it("deployInProgress (supervise's question before it finishes a half-done update): only a live holder counts", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lock-"));
    assert.equal(await deployInProgress(dir), false, "no lock");
    await withLock(dir, "up v1", async () => assert.equal(await deployInProgress(dir), true, "held by this live process"));
    fs.mkdirSync(path.join(dir, "lock"));
    fs.writeFileSync(path.join(dir, "lock", "details.json"), JSON.stringify({ pid: spawnSync("true").pid, host: os.hostname(), command: "up v0", since: "earlier" }));
    assert.equal(await deployInProgress(dir), false, "left by a dead process: the deploy was killed");
  });

  it("a lock without details is held while fresh, and taken over a minute later (its maker died between mkdir and writing them)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lock-"));
    fs.mkdirSync(path.join(dir, "lock"));
    await assert.rejects(withLock(dir, "up v1", async () => "never"), /lock exists \(no details yet\)/);
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(path.join(dir, "lock"), old, old);
    assert.equal(await withLock(dir, "up v1", async () => "done"), "done");
  });

  it("is one lock per host, not per state directory: the lock directory is shared", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lock-"));
    await withLock(dir, "up a", async () => {
      await assert.rejects(withLock(`${dir}/`, "up b", async () => "never"), /another deploy is in progress/);
    });
  });
});

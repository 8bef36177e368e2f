// Two agents at once against one shared directory: exactly one migrates, the other waits and uses its result. And the shared lock's rules.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { acquireLock, isStale, readLock } from "../../bootstrap/migration/lock.ts";
import { assertConverged, journal, makeOldLayout, runAgent, tempDir } from "./helpers.ts";

describe("two agents at once", () => {
  it("exactly one migrates; the other waits for the lock and finds the migration done", async () => {
    const source = tempDir("old");
    makeOldLayout(source, 300, 120);
    const root = tempDir("pair");
    const shared = path.join(root, "shared");
    const agent = (name: string) =>
      runAgent(["--local", "--state-dir", path.join(root, name), "--shared-dir", shared, "--migrate-from", source], { BOOTSTRAP_TEST_HOLD_LOCK_MS: "1500" });
    const [a, b] = await Promise.all([agent("a"), agent("b")]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    assertConverged(source, shared);
    const notes = ["a", "b"].map((name) => journal(path.join(root, name)).steps.migrate!.note ?? "");
    const migrated = notes.filter((note) => note.startsWith("migrated 300 upload(s)"));
    const waited = notes.filter((note) => /^already migrated by local-[0-9a-f]{12} at .* \(waited for it\)$/.test(note));
    assert.equal(migrated.length, 1, `one migrated: ${notes.join(" | ")}`);
    assert.equal(waited.length, 1, `the other waited and used the result: ${notes.join(" | ")}`);
    const marker = JSON.parse(fs.readFileSync(path.join(shared, "codedetect", ".migrated.json"), "utf8"));
    assert.ok(waited[0]!.includes(marker.holder), "the waiting agent names the one that migrated");
    assert.match([a.stdout, b.stdout].join("\n"), /waiting for the migration lock held by local-/);
  });
});

describe("two agents for one instance (one state directory)", () => {
  it("the second is refused at once, naming the first, and changes nothing", async () => {
    const source = tempDir("old");
    makeOldLayout(source, 20, 5);
    const root = tempDir("same-state");
    const args = ["--local", "--state-dir", path.join(root, "state"), "--shared-dir", path.join(root, "shared"), "--migrate-from", source];
    const first = runAgent(args, { BOOTSTRAP_TEST_HOLD_LOCK_MS: "3000" });
    for (let waited = 0; !fs.existsSync(path.join(root, "shared", "codedetect", ".migration.lock")); waited += 50) {
      assert.ok(waited < 30_000, "the first agent reached its migration");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const second = await runAgent(args);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /^bootstrap: step start-up: lock the state directory .*: .*agent\/lock is held by pid \d+ \(bootstrap\) since .*; next: wait for it to finish/);
    assert.equal((await first).code, 0);
    assert.match(journal(path.join(root, "state")).steps.migrate!.note!, /^migrated 20 upload/);
  });
});

describe("the shared lock", () => {
  const lockIn = () => path.join(tempDir("lock"), ".migration.lock");

  it("a live holder's lock is never broken: a second taker waits, then gives up naming the holder", async () => {
    const file = lockIn();
    const first = await acquireLock(file, { holder: "i-first", leaseMs: 60_000, waitMs: 0 });
    await assert.rejects(acquireLock(file, { holder: "i-second", leaseMs: 60_000, waitMs: 300, pollMs: 50 }), /held by i-first \(pid \d+ on .*\); waited 0 s/);
    first.assertHeld();
    await first.release();
    assert.equal(fs.existsSync(file), false);
    const second = await acquireLock(file, { holder: "i-second", leaseMs: 60_000, waitMs: 0 });
    assert.equal(readLock(file) !== null && readLock(file) !== "unreadable" && (readLock(file) as { holder: string }).holder, "i-second");
    await second.release();
  });

  it("a dead holder's lock on this host is taken over at once", async () => {
    const file = lockIn();
    const dead = spawnSync("true").pid!;
    fs.writeFileSync(file, JSON.stringify({ token: "t-dead", holder: "i-dead", host: os.hostname(), pid: dead, acquiredAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 3_600_000).toISOString() }));
    const lease = await acquireLock(file, { holder: "i-new", leaseMs: 60_000, waitMs: 0 });
    assert.equal((readLock(file) as { holder: string }).holder, "i-new");
    await lease.release();
  });

  it("another host's lock counts as dead only once its lease has run out", () => {
    const holder = { token: "t", holder: "i-other", host: "another-host.example.com", pid: 1, acquiredAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 10_000).toISOString() };
    assert.equal(isStale(holder, Date.now()), false);
    assert.equal(isStale(holder, Date.now() + 11_000), true);
    assert.equal(isStale({ ...holder, host: os.hostname(), pid: process.pid }, Date.now()), false, "a live local holder within its lease");
    // A lock left by an agent before a reboot: its pid now belongs to another process (here: this one). Judged alive, every boot waited out migrateWaitSeconds, then failed.
    assert.equal(isStale({ ...holder, host: os.hostname(), pid: process.pid }, Date.now() + 11_000), true, "a live local pid past its lease (a pid reused after a reboot)");
  });

  it("another host whose clock lags (its lease looks run out) but which keeps renewing is waited for, not taken over; once it stops, taken over", async () => {
    const file = lockIn();
    // Its clock an hour behind ours: every expiresAt it writes is in our past.
    const write = (n: number) => fs.writeFileSync(file, JSON.stringify({ token: "t-lagging", holder: "i-lagging", host: "another-host.example.com", pid: 1, acquiredAt: new Date(Date.now() - 3_600_000).toISOString(), expiresAt: new Date(Date.now() - 3_600_000 + n).toISOString() }));
    let n = 0;
    write(n);
    const renewing = setInterval(() => write((n += 1)), 100);
    try {
      await assert.rejects(acquireLock(file, { holder: "i-new", leaseMs: 1000, waitMs: 1500, pollMs: 50 }), /is held by i-lagging/);
    } finally {
      clearInterval(renewing);
    }
    assert.equal((readLock(file) as { token: string }).token, "t-lagging", "its lock stands");
    const lease = await acquireLock(file, { holder: "i-new", leaseMs: 1000, waitMs: 5000, pollMs: 50 });
    assert.equal((readLock(file) as { holder: string }).holder, "i-new", "it stopped renewing: taken over after half a lease");
    await lease.release();
  });

  it("something that is not a lock at the lock's name is refused, not removed", async () => {
    const file = lockIn();
    fs.writeFileSync(file, "not json");
    await assert.rejects(acquireLock(file, { holder: "i-x", leaseMs: 60_000, waitMs: 0 }), /is not a lock this agent wrote/);
    assert.equal(fs.readFileSync(file, "utf8"), "not json");
    const directory = lockIn();
    fs.mkdirSync(directory);
    await assert.rejects(acquireLock(directory, { holder: "i-x", leaseMs: 60_000, waitMs: 0 }), /is not a lock this agent wrote/, "a directory there: the same refusal, not a raw EISDIR");
    assert.ok(fs.statSync(directory).isDirectory());
  });

  it("a live holder renews its lease, so another host never sees it run out", async () => {
    const file = lockIn();
    const lease = await acquireLock(file, { holder: "i-live", leaseMs: 3000, waitMs: 0 });
    const first = (readLock(file) as { expiresAt: string }).expiresAt;
    let renewed = first;
    for (let waited = 0; renewed === first && waited < 20_000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      renewed = (readLock(file) as { expiresAt: string }).expiresAt;
    }
    assert.ok(Date.parse(renewed) > Date.parse(first), "the lease was pushed forward");
    assert.equal((readLock(file) as { acquiredAt: string }).acquiredAt, lease.content.acquiredAt, "acquiredAt stays");
    lease.assertHeld();
    await lease.release();
  });

  it("a holder whose lock was taken over knows it before committing", async () => {
    const file = lockIn();
    const lease = await acquireLock(file, { holder: "i-slow", leaseMs: 60_000, waitMs: 0 });
    fs.rmSync(file);
    assert.throws(() => lease.assertHeld(), /lost the migration lock/);
    await lease.release();
  });
});

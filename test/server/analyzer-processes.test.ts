// The analyzer processes around the server's life: nothing left in the temp directory after a stop, stale leftovers of a killed server cleared, and a signal to the whole process group does not cut analyses in flight.
import assert from "node:assert/strict";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { test } from "node:test";
import { stdlibSource } from "../helpers/python-sources.ts";
import { startServer, upload } from "../helpers/server-process.ts";

const scratchOf = (pid: number | undefined) => readdirSync(tmpdir()).filter((name) => name.startsWith(`codedetect-analyzers-${pid}-`));

test("a clean stop leaves no temporary directory; those of a server killed with -9 are cleared by the next start, a live server's are not", async () => {
  const first = await startServer();
  assert.equal((await upload(first.url, "a.py", "import os\n")).status, 200);
  assert.equal(scratchOf(first.child.pid).length, 1, "one scratch directory while it runs");
  assert.equal(await first.stop(), 0);
  assert.deepEqual(scratchOf(first.child.pid), [], "a clean stop removes it");

  const killed = await startServer();
  const live = await startServer();
  try {
    assert.equal(await killed.stop("SIGKILL"), null);
    assert.equal(scratchOf(killed.child.pid).length, 1, "a killed server cannot clean up");
    const next = await startServer();
    try {
      assert.deepEqual(scratchOf(killed.child.pid), [], "the next start clears the dead server's directory");
      assert.equal(scratchOf(live.child.pid).length, 1, "a live server's directory is kept");
      assert.equal((await upload(live.url, "b.py", "import os\n")).status, 200, "and the live server keeps working");
    } finally {
      await next.stop();
    }
  } finally {
    await live.stop();
  }
});

test("SIGTERM to the whole process group during an analysis: the analysis completes with 200 during the drain, then the server exits 0", async () => {
  const server = await startServer({ detached: true, env: { DRAIN_SECONDS: "1", HEALTH_INTERVAL_SECONDS: "1" } });
  try {
    const code = stdlibSource("tarfile"); // pylint needs seconds for it
    const answer = upload(server.url, "big.py", code);
    // wait until the analysis runs (the health check counts running analyses)
    for (;;) {
      const health = (await (await fetch(`${server.url}/api/health`)).json()) as { checks: { analyzers: { running: number } } };
      if (health.checks.analyzers.running > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    process.kill(-server.child.pid!, "SIGTERM"); // as systemd stops a service, or Ctrl-C in a terminal
    const finished = await answer;
    assert.equal(finished.status, 200, JSON.stringify(finished.body));
    assert.equal(finished.body.filename, "big.py");
    assert.equal(await server.exited, 0);
    assert.deepEqual(scratchOf(server.child.pid), []);
  } finally {
    await server.stop();
  }
});

test("a cleaner that removes the temporary directory while the server runs does not break analyses, nor the replacement of a worker", async () => {
  const server = await startServer();
  try {
    assert.equal((await upload(server.url, "a.py", "import os\n")).status, 200);
    for (const dir of scratchOf(server.child.pid)) rmSync(`${tmpdir()}/${dir}`, { recursive: true, force: true });
    const after = await upload(server.url, "b.py", "import sys\n");
    assert.equal(after.status, 200, JSON.stringify(after.body));
    const killed = childrenOf(server.child.pid!);
    for (const pid of killed) process.kill(pid, "SIGKILL"); // every worker must now start afresh
    while (childrenOf(server.child.pid!).filter((pid) => !killed.includes(pid)).length < killed.length) await new Promise((resolve) => setTimeout(resolve, 50));
    const replaced = await upload(server.url, "c.py", "import re\n");
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    assert.ok(replaced.body.analysis.quality_issues.some((m: { symbol: string }) => m.symbol === "unused-import"));
  } finally {
    await server.stop();
  }
  assert.deepEqual(scratchOf(server.child.pid), []);
});

function childrenOf(parent: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === parent;
      } catch {
        return false;
      }
    })
    .map(Number);
}

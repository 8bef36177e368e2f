// The pool's behaviour with real tools: concurrent tools, bounded queue, timeouts, dead workers replaced, nothing left running.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AnalyzerFailedError, AnalyzerTimeoutError, AnalyzerUnavailableError, QueueFullError } from "../../server/analyzers/index.ts";
import { stdlibSource } from "../helpers/python-sources.ts";
import { fixture, processExists, startPool, symbols, waitFor, workerProcesses } from "./helpers.ts";

interface ToolTiming {
  started: number;
  finished: number;
}

describe("analyzer pool", () => {
  test("pylint, bandit and radon run at the same time on one upload", async () => {
    const logged: Array<{ tools: Record<string, ToolTiming> }> = [];
    const logger = { info: (o: object) => void logged.push(o as (typeof logged)[number]), warn() {}, error() {} };
    const pool = await startPool({ logger });
    try {
      await pool.analyze({ code: stdlibSource("textwrap"), filename: "medium.py" });
      const timings = logged.find((entry) => entry.tools)?.tools;
      assert.ok(timings, "the pool logs each tool's start and end as measured inside its Python process");
      const [pylint, bandit, radon] = [timings.pylint!, timings.bandit!, timings.radon!];
      const overlap = (a: ToolTiming, b: ToolTiming) => a.started < b.finished && b.started < a.finished;
      // Run one after another, no tool could overlap the longest one (pylint); radon can finish in a few ms, so two short
      // tools need not overlap each other on a loaded machine.
      assert.ok(overlap(pylint, bandit) && overlap(pylint, radon), JSON.stringify(timings));
    } finally {
      await pool.close();
    }
  });

  test("a worker grown past recycleRssMb is replaced after its job, and the next upload is analysed by a fresh one", async () => {
    const replaced: string[] = [];
    const logger = { info: (o: object, msg?: string) => void (msg?.includes("replacing") && replaced.push((o as { tool: string }).tool)), warn() {}, error() {} };
    const pool = await startPool({ recycleRssMb: 1, logger });
    try {
      const before = (await workerProcesses()).map((p) => p.pid);
      const first = await pool.analyze({ code: "import os\n", filename: "first.py" });
      assert.ok(symbols(first).includes("unused-import"));
      assert.deepEqual(replaced.sort(), ["bandit", "pylint", "radon"], "every worker is over 1 MB, so each is replaced");
      await waitFor(async () => (await workerProcesses()).every((p) => !before.includes(p.pid)) && (await workerProcesses()).length === 3);
      const second = await pool.analyze({ code: '"""Clean."""\n', filename: "second.py" });
      assert.deepEqual(symbols(second), []);
      assert.equal(pool.status().ok, true);
    } finally {
      await pool.close();
    }
  });

  test("a job that waited past maxWaitMs for a lane is refused with QueueFullError; the running one is unharmed", async () => {
    const pool = await startPool({ workers: 1, queueLimit: 4, maxWaitMs: 100 });
    try {
      const running = pool.analyze({ code: stdlibSource("tarfile"), filename: "large.py" });
      await assert.rejects(pool.analyze({ code: "x = 1\n", filename: "late.py" }), (error: Error) => error instanceof QueueFullError && /waited \d+ s for a free analyzer/.test(error.message));
      assert.ok(Array.isArray((await running).radon), "the running job finished with its findings");
      assert.deepEqual([pool.status().running, pool.status().waiting], [0, 0]);
    } finally {
      await pool.close();
    }
  });

  test("maxWaitMs 0: an idle lane takes a job at once; a job that would have to wait is refused at once", async () => {
    const pool = await startPool({ workers: 1, queueLimit: 4, maxWaitMs: 0 });
    try {
      const first = pool.analyze({ code: "import os\n", filename: "first.py" });
      await assert.rejects(pool.analyze({ code: "x = 1\n", filename: "second.py" }), (error: Error) => error instanceof QueueFullError && /jobs do not wait/.test(error.message));
      assert.deepEqual([pool.status().running, pool.status().waiting], [1, 0], "the refused job left no place taken in the line");
      assert.ok(symbols(await first).includes("unused-import"), "the job that found the lane idle ran");
      assert.ok(symbols(await pool.analyze({ code: "import os\n", filename: "third.py" })).includes("unused-import"), "idle again: the next job runs");
    } finally {
      await pool.close();
    }
  });

  test("jobs beyond the lanes wait in a bounded queue; beyond it analyze rejects at once with QueueFullError", async () => {
    const pool = await startPool({ workers: 1, queueLimit: 1 });
    try {
      const code = stdlibSource("textwrap");
      const first = pool.analyze({ code, filename: "first.py" });
      let firstSettled = false;
      void first.finally(() => (firstSettled = true));
      const second = pool.analyze({ code: '"""Second."""\nimport os\n', filename: "second.py" });
      await assert.rejects(pool.analyze({ code, filename: "third.py" }), QueueFullError);
      assert.equal(firstSettled, false, "rejected without waiting for a lane");
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual([pool.status().running, pool.status().waiting], [1, 1]);
      const [firstOut, secondOut] = await Promise.all([first, second]);
      assert.ok(firstOut.pylint.every((m) => m.path === "first.py"));
      assert.ok(symbols(secondOut).includes("unused-import"), "the waiting job ran after the first, with its own findings");
      assert.deepEqual([pool.status().running, pool.status().waiting], [0, 0]);
      await pool.analyze({ code, filename: "fourth.py" }); // room again
    } finally {
      await pool.close();
    }
  });

  test("a tool over its timeout is killed and replaced, and the job fails naming the tool and the timeout", async () => {
    // the limit is processor time; the wall-clock cap is far, so that a busy test machine cannot make it the judge
    const pool = await startPool({ timeoutMs: 400, wallLimitMs: 60_000 });
    try {
      const before = await workerProcesses();
      const error = await pool.analyze({ code: stdlibSource("tarfile"), filename: "large.py" }).then(
        () => assert.fail("pylint cannot lint 2,600 lines in 400 ms"),
        (caught: unknown) => caught,
      );
      assert.ok(error instanceof AnalyzerTimeoutError && error instanceof AnalyzerFailedError);
      assert.match(error.message, /^pylint ran into the 0\.4 s time limit on this file/);
      const killed = before.find((p) => p.cmdline.includes("--tool pylint"))!;
      await waitFor(async () => !(await processExists(killed.pid)));
      const after = await pool.analyze({ code: '"""Small."""\nimport os\n', filename: "small.py" });
      assert.ok(symbols(after).includes("unused-import"), "the replacement worker answers the next job");
      assert.ok((await workerProcesses()).some((p) => p.cmdline.includes("--tool pylint") && p.pid !== killed.pid));
    } finally {
      await pool.close();
    }
  });

  test("a tool that crashes on a file fails that job naming the tool, and the next job gets a fresh worker", async () => {
    const pool = await startPool();
    try {
      const pylint = (await workerProcesses()).find((p) => p.cmdline.includes("--tool pylint"))!;
      const job = pool.analyze({ code: stdlibSource("tarfile"), filename: "large.py" });
      setTimeout(() => process.kill(pylint.pid, "SIGKILL"), 200); // stands in for a crash inside pylint
      await assert.rejects(job, (error: Error) => error instanceof AnalyzerFailedError && error.message === "pylint crashed on this file");
      const next = await pool.analyze({ code: '"""Small."""\nimport os\n', filename: "small.py" });
      assert.ok(symbols(next).includes("unused-import"));
    } finally {
      await pool.close();
    }
  });

  test("a worker that dies between jobs is replaced and the next job succeeds", async () => {
    const pool = await startPool();
    try {
      const bandit = (await workerProcesses()).find((p) => p.cmdline.includes("--tool bandit"))!;
      process.kill(bandit.pid, "SIGKILL");
      await waitFor(async () => (await workerProcesses()).some((p) => p.cmdline.includes("--tool bandit") && p.pid !== bandit.pid));
      const outputs = await pool.analyze({ code: await fixture("insecure.py"), filename: "insecure.py" });
      assert.ok(outputs.bandit.some((r) => r.test_id === "B602"));
      assert.equal(pool.status().ok, true);
    } finally {
      await pool.close();
    }
  });

  test("close() rejects waiting jobs, lets the running one finish and leaves no process behind", async () => {
    const pool = await startPool({ workers: 2, queueLimit: 2 });
    const workers = await workerProcesses();
    assert.equal(workers.length, 6, "two lanes of three warm processes");
    const code = stdlibSource("textwrap");
    // two clients, so that both lanes run (one client alone may hold all lanes but one)
    const jobs = Promise.allSettled(["a.py", "b.py", "c.py", "d.py"].map((filename, index) => pool.analyze({ code, filename, client: `client-${index}` })));
    await new Promise((resolve) => setImmediate(resolve));
    await pool.close();
    const outcomes = await jobs;
    assert.deepEqual(outcomes.map((o) => o.status), ["fulfilled", "fulfilled", "rejected", "rejected"]);
    for (const outcome of outcomes.slice(2)) assert.ok((outcome as PromiseRejectedResult).reason instanceof AnalyzerUnavailableError);
    for (const worker of workers) assert.equal(await processExists(worker.pid), false, `worker ${worker.pid} is gone (not even a zombie)`);
    assert.deepEqual(await workerProcesses(), []);
    await assert.rejects(pool.analyze({ code, filename: "late.py" }), AnalyzerUnavailableError);
    assert.equal(pool.status().ok, false);
  });
});

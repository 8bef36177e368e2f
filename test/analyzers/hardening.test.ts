// The pool on edge cases: empty files, pylint's own crash path, slow clients sharing the lanes, temporary directories.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { AnalyzerMemoryError, buildReport } from "../../server/analyzers/index.ts";
import { ToolWorker } from "../../server/analyzers/tool-worker.ts";
import { processStartTicks } from "../../server/analyzers/scratch.ts";
import { stdlibSource } from "../helpers/python-sources.ts";
import { PYTHON, runCommandLines, startPool } from "./helpers.ts";

const ownScratch = () => readdirSync(tmpdir()).filter((name) => name.startsWith(`codedetect-analyzers-${process.pid}-`));

describe("analyzer pool edge cases", () => {
  test("an empty file (an __init__.py) is analysed like the command lines do, and scores 100", async () => {
    const pool = await startPool();
    try {
      const outputs = await pool.analyze({ code: "", filename: "__init__.py" });
      assert.deepEqual(outputs, await runCommandLines("", "__init__.py"));
      assert.equal(buildReport(outputs, "__init__.py").score, 100);
    } finally {
      await pool.close();
    }
  });

  test("a client holding the lanes with slow files leaves one for another client, who is served first", async () => {
    const pool = await startPool({ workers: 2, queueLimit: 8 });
    try {
      const slow = stdlibSource("tarfile");
      const order: string[] = [];
      const flood = [0, 1, 2].map((n) => pool.analyze({ code: `${slow}\n# ${n}\n`, filename: `slow_${n}.py`, client: "flooder" }).then(() => order.push(`slow_${n}`)));
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual([pool.status().running, pool.status().waiting], [1, 2], "one client alone holds all lanes but one");
      await pool.analyze({ code: '"""Small."""\n', filename: "small.py", client: "other" }).then(() => order.push("small"));
      await Promise.all(flood);
      assert.deepEqual(order, ["small", "slow_0", "slow_1", "slow_2"]);
    } finally {
      await pool.close();
    }
  });

  test("close() leaves no temporary directory behind", async () => {
    const before = ownScratch();
    const pool = await startPool();
    await pool.analyze({ code: "import os\n", filename: "a.py" });
    assert.equal(ownScratch().length, before.length + 1, "one scratch directory per pool");
    await pool.close();
    assert.deepEqual(ownScratch(), before);
  });

  test("at start, scratch directories of ended processes are removed; those of live processes are kept", async () => {
    const ended = spawnSync(process.execPath, ["-e", "0"]).pid!;
    const dead = join(tmpdir(), `codedetect-analyzers-${ended}-12345-deadXX`);
    const reused = join(tmpdir(), `codedetect-analyzers-${process.pid}-1-reusd1`); // our pid, another start time
    const live = join(tmpdir(), `codedetect-analyzers-${process.ppid}-${processStartTicks(process.ppid)}-liveXX`);
    const unrelated = join(tmpdir(), "codedetect-test-keepme");
    for (const dir of [dead, reused, live, unrelated]) mkdirSync(join(dir, "pylint-x", "home"), { recursive: true });
    const pool = await startPool();
    try {
      const names = new Set(readdirSync(tmpdir()));
      assert.ok(!names.has("codedetect-analyzers-" + dead.split("codedetect-analyzers-")[1]), "the dead server's directory is gone");
      assert.ok(!names.has(reused.split("/").pop()!), "a pid now used by another process does not keep it");
      assert.ok(names.has(live.split("/").pop()!), "a live server's directory is kept");
      assert.ok(names.has("codedetect-test-keepme"), "other directories are not touched");
    } finally {
      await pool.close();
      for (const dir of [live, unrelated]) spawnSync("rm", ["-rf", dir]);
    }
  });
});

describe("memory ceiling: the file is judged, not what an earlier file left held (issue 14, finding 4)", () => {
  test("a file that fits a fresh process is not blamed when an earlier file left memory held: it is analysed on the fresh replacement", async () => {
    const scratchDir = join(tmpdir(), `codedetect-analyzers-${process.pid}-held`);
    mkdirSync(scratchDir, { recursive: true });
    const logged: string[] = [];
    const logger = { info: (fields: { err?: string }) => logged.push(fields.err ?? ""), warn() {}, error() {} };
    // a 300 MB ceiling, recycled only above 290 MB resident: what a job leaves held stays for the next one
    const worker = new ToolWorker({ tool: "pylint", python: PYTHON, logger, scratchDir, memoryMb: 300, recycleRssMb: 290 });
    const limits = { cpuMs: 120_000, wallMs: 120_000 };
    const big = Buffer.from(`X = "${"a".repeat(8_000_000)}"\n`); // pylint peaks near 200 MB on it, alone
    try {
      // 50,000 lines of string literals: pylint's resident memory stays about 100 MB above its warm size afterwards
      await worker.run(Buffer.from(`X = (\n${`"${"a".repeat(70)}"\n`.repeat(50_000)})\n`), "held.py", limits);
      const heldPid = worker.pid;
      const fresh = await worker.run(big, "big.py", limits);
      assert.ok(Array.isArray(fresh.result), "analysed, on the replacement, under the same ceiling");
      assert.notEqual(worker.pid, heldPid, "the process that held the earlier file's memory was replaced");
      assert.match(logged.join("\n"), /pylint ran out of its 300 MB memory limit while \d+ MB were still held from earlier files/);
      // a file that needs more than the ceiling on a fresh process is still the file's fault
      const tooBig = await worker.run(Buffer.from(`X = "${"a".repeat(20_000_000)}"\n`), "huge.py", limits).then(() => null, (error: Error) => error);
      assert.ok(tooBig instanceof AnalyzerMemoryError, String(tooBig));
    } finally {
      await worker.stop();
      rmSync(scratchDir, { recursive: true, force: true });
    }
  });
});

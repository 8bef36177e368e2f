// When the server process dies without closing the pool (killed, out of memory), its Python workers exit too.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { stdlibPath } from "../helpers/python-sources.ts";
import { PYTHON, processRunning, waitFor } from "./helpers.ts";

const POOL = new URL("../../server/analyzers/index.ts", import.meta.url).href;

test("workers of a server that is killed with SIGKILL exit by themselves, even in the middle of a job", async () => {
  // a stand-in server: starts a pool, reports its workers' pids, starts a long job, then waits to be killed
  const server = `
    import { readdirSync, readFileSync } from "node:fs";
    const { createAnalyzerPool } = await import(${JSON.stringify(POOL)});
    const pool = await createAnalyzerPool({ python: ${JSON.stringify(PYTHON)}, workers: 1, queueLimit: 1, timeoutMs: 60000 });
    const workers = readdirSync("/proc").filter((d) => /^\\d+$/.test(d)).filter((pid) => {
      try { return readFileSync("/proc/" + pid + "/stat", "utf8").split(") ")[1].split(" ")[1] === String(process.pid); } catch { return false; }
    });
    const big = readFileSync(${JSON.stringify(stdlibPath("tarfile"))}, "utf8");
    pool.analyze({ code: big.repeat(4), filename: "big.py" }) // pylint needs many seconds for it.catch(() => {});
    console.log(JSON.stringify(workers.map(Number)));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", server], { stdio: ["ignore", "pipe", "inherit"] });
  const [line] = await createInterface({ input: child.stdout })[Symbol.asyncIterator]().next().then((r) => [r.value as string]);
  const workers = JSON.parse(line ?? "[]") as number[];
  assert.equal(workers.length, 3, "one warm pylint, bandit and radon");
  await new Promise((resolve) => setTimeout(resolve, 300)); // the job is running
  child.kill("SIGKILL");
  // well before pylint could finish the job and notice its closed stdin. Orphans are reaped by init, not by
  // us, and an init may take its time: an exited worker still awaiting it (a zombie) has stopped running
  await waitFor(async () => {
    const running = await Promise.all(workers.map(processRunning));
    return running.every((isRunning) => !isRunning);
  }, 2_000);
});

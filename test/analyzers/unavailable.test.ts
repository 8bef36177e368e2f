// Missing tools or interpreter: status says precisely what is missing for which interpreter, and analyze rejects with it.
import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { AnalyzerUnavailableError, createAnalyzerPool } from "../../server/analyzers/index.ts";
import { PYTHON, workerProcesses } from "./helpers.ts";

/** A stand-in interpreter: Debian's python3 with some tools hidden, as on a machine where they are not installed. */
async function pythonWithout(dir: string, hidden: string[]): Promise<string> {
  const hide = `
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ${JSON.stringify(hidden)}:
            raise ModuleNotFoundError("No module named %r" % name, name=name)
sys.meta_path.insert(0, Hide())
script, sys.argv = sys.argv[1], sys.argv[1:]
import runpy
runpy.run_path(script, run_name="__main__")
`;
  const path = join(dir, `python-without-${hidden.join("-")}`);
  // the pool runs: python -I -B -X utf8 worker.py ARGS... ; keep those flags, run worker.py with the tools hidden
  await writeFile(path, `#!/bin/sh\nshift 4\nexec ${PYTHON} -I -B -X utf8 -c '${hide}' "$@"\n`);
  await chmod(path, 0o755);
  return path;
}

describe("analyzers unavailable", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "codedetect-fake-python-"));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test("one tool missing: status names the tool and the interpreter; analyze rejects with that message", async () => {
    const python = await pythonWithout(dir, ["bandit"]);
    const pool = await createAnalyzerPool({ python, workers: 1, queueLimit: 2, timeoutMs: 30_000 });
    try {
      const status = pool.status();
      assert.equal(status.ok, false);
      assert.equal(status.python, python);
      assert.deepEqual(status.tools.bandit, { ok: false, error: `bandit is not installed for ${python}: No module named 'bandit'` });
      assert.equal(status.tools.pylint.ok, true);
      assert.match(status.tools.pylint.version ?? "", /^\d+\.\d+/);
      assert.equal(status.tools.radon.ok, true);
      await assert.rejects(pool.analyze({ code: "x = 1\n", filename: "x.py" }), (error: Error) => {
        assert.ok(error instanceof AnalyzerUnavailableError);
        assert.equal(error.message, `bandit is not installed for ${python}: No module named 'bandit'`);
        return true;
      });
      assert.deepEqual(await workerProcesses(), [], "no half-working processes are kept");
    } finally {
      await pool.close();
    }
  });

  test("no tool installed: each is reported, without a stack trace", async () => {
    const python = await pythonWithout(dir, ["pylint", "bandit", "radon"]);
    const pool = await createAnalyzerPool({ python, workers: 2, queueLimit: 2, timeoutMs: 30_000 });
    try {
      const { tools, ok } = pool.status();
      assert.equal(ok, false);
      for (const tool of ["pylint", "bandit", "radon"] as const) {
        assert.equal(tools[tool].error, `${tool} is not installed for ${python}: No module named '${tool}'`);
      }
      const error = await pool.analyze({ code: "x = 1\n", filename: "x.py" }).catch((caught: Error) => caught);
      assert.ok(error instanceof AnalyzerUnavailableError);
      assert.doesNotMatch(error.message, /Traceback|File "/);
      for (const tool of ["pylint", "bandit", "radon"]) assert.match(error.message, new RegExp(`${tool} is not installed`));
    } finally {
      await pool.close();
    }
  });

  test("an interpreter that does not exist is named as not found", async () => {
    const pool = await createAnalyzerPool({ python: "/nonexistent/python3", workers: 1, queueLimit: 0, timeoutMs: 30_000 });
    try {
      assert.equal(pool.status().ok, false);
      assert.equal(pool.status().tools.pylint.error, "Python interpreter /nonexistent/python3 not found, so pylint cannot run");
      await assert.rejects(pool.analyze({ code: "x = 1\n", filename: "x.py" }), AnalyzerUnavailableError);
    } finally {
      await pool.close();
    }
  });

  test("without a configured interpreter, Debian's python3 (the one with the tools) is chosen", async () => {
    const pool = await createAnalyzerPool({ workers: 1, queueLimit: 0, timeoutMs: 30_000 });
    try {
      const status = pool.status();
      assert.equal(status.python, PYTHON);
      assert.equal(status.ok, true, JSON.stringify(status.tools));
    } finally {
      await pool.close();
    }
  });
});

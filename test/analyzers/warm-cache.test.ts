// A warm analyzer never answers one upload with another's findings (the reference's astroid-cache trap and its relatives).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { AnalyzerPool } from "../../server/analyzers/index.ts";
import { runCommandLines, startPool, symbols } from "./helpers.ts";

const WITH_UNUSED_IMPORT = '"""Uses nothing it imports."""\nimport os\n\nVALUE = 1\n';
const WITHOUT_UNUSED_IMPORT = '"""Imports nothing."""\n\nVALUE = 1\n';

describe("uploads do not leak into each other in a warm pylint", () => {
  let pool: AnalyzerPool;
  before(async () => {
    pool = await startPool({ workers: 1 }); // one lane: every upload goes through the same warm processes
  });
  after(() => pool.close());

  test("two different files under the same name each get their own findings", async () => {
    for (const [code, expectUnused] of [
      [WITH_UNUSED_IMPORT, true],
      [WITHOUT_UNUSED_IMPORT, false],
      [WITH_UNUSED_IMPORT, true],
    ] as const) {
      const outputs = await pool.analyze({ code, filename: "same.py" });
      assert.equal(symbols(outputs).includes("unused-import"), expectUnused, `unused-import expected: ${expectUnused}`);
      assert.equal(outputs.pylint.some((m) => m["message-id"] === "W0611"), expectUnused);
    }
  });

  test("an earlier upload is not importable by a later one", async () => {
    await pool.analyze({ code: '"""Helper."""\n\n\ndef present():\n    """Exists."""\n    return 1\n', filename: "helper.py" });
    const main = '"""Main."""\nimport helper\n\nhelper.missing()\n';
    const warm = await pool.analyze({ code: main, filename: "main.py" });
    const alone = await runCommandLines(main, "main.py");
    assert.ok(symbols(alone).includes("import-error"), "pylint on main.py alone cannot import helper");
    assert.deepEqual(warm.pylint, alone.pylint);
  });

  test("an attribute one upload sets on a standard-library object is unknown to the next upload", async () => {
    await pool.analyze({ code: '"""Sets an attribute."""\nimport threading\n\nWORKER = threading.Thread(target=print)\nWORKER.result = 1\n', filename: "sets.py" });
    const reads = '"""Reads it."""\nimport threading\n\nprint(threading.Thread(target=print).result)\n';
    const warm = await pool.analyze({ code: reads, filename: "reads.py" });
    const alone = await runCommandLines(reads, "reads.py");
    assert.ok(symbols(alone).includes("no-member"), "pylint alone reports Thread has no 'result' member");
    assert.deepEqual(warm.pylint, alone.pylint);
  });

  test("bandit's code excerpt comes from this upload, not an earlier one of the same name", async () => {
    const first = await pool.analyze({ code: "import subprocess\nsubprocess.call('ls', shell=True)\n", filename: "run.py" });
    const second = await pool.analyze({ code: "import subprocess\nsubprocess.call('whoami', shell=True)\n", filename: "run.py" });
    const shellCall = (outputs: typeof first) => outputs.bandit.find((r) => r.test_id === "B602")?.code ?? "";
    assert.match(shellCall(first), /'ls'/);
    assert.match(shellCall(second), /'whoami'/);
    assert.doesNotMatch(shellCall(second), /'ls'/);
  });
});

// The warm pool gives exactly what a user sees running pylint, bandit and radon on their own file, named as they named it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { AnalyzerPool } from "../../server/analyzers/index.ts";
import { stdlibSource } from "../helpers/python-sources.ts";
import { fixture, runCommandLines, startPool } from "./helpers.ts";

describe("warm analyzers match the command lines", () => {
  let pool: AnalyzerPool;
  before(async () => {
    pool = await startPool();
  });
  after(() => pool.close());

  // real-world code from the interpreter's standard library, and the fixture written for these tests
  const cases: Array<[source: string, clientName: string, read: () => Promise<string>]> = [
    ["stdlib bisect", "bisect_copy.py", async () => stdlibSource("bisect")],
    ["stdlib textwrap", "textwrap_copy.py", async () => stdlibSource("textwrap")],
    ["insecure.py", "insecure.py", () => fixture("insecure.py")],
    // not a valid module name: linted as module "my-upload", as `pylint my-upload.py` does (invalid-name included)
    ["insecure.py", "my-upload.py", () => fixture("insecure.py")],
  ];
  for (const [source, clientName, read] of cases) {
    test(`${source} uploaded as ${clientName}`, async () => {
      const code = await read();
      const warm = await pool.analyze({ code, filename: clientName });
      const cli = await runCommandLines(code, clientName);
      assert.ok(cli.pylint.length > 0 && Array.isArray(cli.radon) && cli.radon.length > 0, "the fixture gives findings to compare");
      assert.deepEqual(warm.pylint, cli.pylint);
      assert.deepEqual(warm.bandit, cli.bandit);
      assert.deepEqual(warm.radon, cli.radon);
    });
  }

  test("a file radon cannot parse gives radon's error object and pylint's syntax-error, like the command lines", async () => {
    const code = "def broken(:\n    pass\n";
    const warm = await pool.analyze({ code, filename: "broken.py" });
    const cli = await runCommandLines(code, "broken.py");
    assert.ok(!Array.isArray(warm.radon) && typeof warm.radon.error === "string");
    assert.deepEqual(warm, cli);
  });

  test("the client's name is what the tools report, never a server path or the storage hash", async () => {
    const code = await fixture("insecure.py");
    const hashLike = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.py";
    const warm = await pool.analyze({ code, filename: "insecure.py" });
    for (const message of warm.pylint) {
      assert.equal(message.path, "insecure.py");
      assert.equal(message.module, "insecure");
    }
    for (const result of warm.bandit) assert.equal(result.filename, "insecure.py");
    const serialized = JSON.stringify(warm);
    assert.doesNotMatch(serialized, /codedetect-|\/tmp\//, "no worker directory leaks into the findings");
    assert.ok(!warm.pylint.some((m) => m.symbol === "invalid-name" && m.line === 1), "a well-named module gets no module-name finding");
    // the same content stored under its hash would be reported as that module: the pool never uses such a name
    const asHash = await pool.analyze({ code, filename: hashLike });
    assert.ok(asHash.pylint.some((m) => m.symbol === "invalid-name" && m.obj === ""), "sanity: a hash-named module does get invalid-name");
  });

  test("names a command line would take for options or refuse as too long still give findings under that name", async () => {
    const code = await fixture("insecure.py");
    for (const [clientName, shown] of [["-dash.py", "-dash.py"], [`${"x".repeat(300)}.py`, `${"x".repeat(197)}.py`]] as const) {
      const warm = await pool.analyze({ code, filename: clientName });
      assert.ok(warm.pylint.length > 0 && warm.bandit.length > 0 && Array.isArray(warm.radon) && warm.radon.length > 0);
      for (const message of warm.pylint) assert.equal(message.path, shown);
      for (const result of warm.bandit) assert.equal(result.filename, shown);
    }
  });

  test("a client name with directory parts is reduced to the bare file name", async () => {
    const warm = await pool.analyze({ code: await fixture("insecure.py"), filename: "C:\\Users\\me\\..\\insecure.py" });
    assert.ok(warm.pylint.length > 0);
    for (const message of warm.pylint) assert.equal(message.path, "insecure.py");
    for (const result of warm.bandit) assert.equal(result.filename, "insecure.py");
  });
});

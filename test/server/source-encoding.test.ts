// Python in a declared encoding (PEP 263) is analysed as the tools' command lines analyse the same bytes; an encoding Python refuses is a precise 400.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { after, before, describe, test } from "node:test";
import { orderQualityIssues } from "../../server/analyzers/score.ts";
import { PYTHON, runCommandLines } from "../analyzers/helpers.ts";
import { startServer, upload, type RunningServer } from "../helpers/server-process.ts";

const exec = promisify(execFile);

/** A module whose findings depend on its encoding: 60 é in a 99-character line is line-too-long only when misread. */
function latin1Module(): Buffer {
  const text = [
    "# -*- coding: latin-1 -*-",
    '"""Caf\u00e9 r\u00e9sum\u00e9."""',
    "import subprocess",
    "",
    `GREETING = "${"\u00e9".repeat(60)}"  # ${"x".repeat(99 - 17 - 60 - 4)}`,
    "",
    "",
    "def run(flag):",
    '    """Runs a shell command."""',
    "    if flag:",
    '        return subprocess.call("echo " + GREETING, shell=True)',
    "    return 0",
    "",
  ].join("\n");
  return Buffer.from(text, "latin1");
}

/** What Python itself says of these bytes: null when it compiles them, else its error's last line. */
async function pythonVerdict(bytes: Uint8Array): Promise<string | null> {
  const dir = await mkdtemp(join(tmpdir(), "codedetect-encoding-"));
  try {
    await writeFile(join(dir, "m.py"), bytes);
    await exec(PYTHON, ["-c", "import sys; compile(open(sys.argv[1], 'rb').read(), sys.argv[1], 'exec')", join(dir, "m.py")]);
    return null;
  } catch (error) {
    return ((error as { stderr: string }).stderr.trim().split("\n").pop() ?? "").trim();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe("source encodings", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  test("a latin-1 file with its coding declaration gets 200 and exactly the tools' command-line findings on the same bytes", async () => {
    const bytes = latin1Module();
    assert.equal(await pythonVerdict(bytes), null, "sanity: Python compiles it");
    const answer = await upload(server.url, "latin.py", bytes);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.original_code, bytes.toString("latin1"), "the code decoded as latin-1");
    const cli = await runCommandLines(bytes, "latin.py");
    assert.ok(!cli.pylint.some((m) => m.symbol === "line-too-long"), "sanity: read as latin-1, no line is too long");
    assert.ok(cli.bandit.some((r) => r.code.includes("\u00e9".repeat(60))), "sanity: bandit's snippet shows the line as latin-1 text");
    assert.deepEqual(answer.body.analysis.quality_issues, orderQualityIssues(cli.pylint), "every message, most severe first");
    assert.equal(answer.body.summary.total_issues, cli.pylint.length);
    assert.deepEqual(answer.body.analysis.security_issues, cli.bandit);
    // (radon's command line reads files as UTF-8 whatever they declare, and says so: the answer says the same)
    assert.deepEqual(answer.body.analysis.complexity, { "latin.py": cli.radon });
  });

  test("cp1252 on line 2, iso-8859-15 and a UTF-8 BOM are read as Python reads them", async () => {
    const cases: Array<[string, Buffer, string]> = [
      ["cp1252.py", Buffer.concat([Buffer.from("#!/usr/bin/env python3\n# vim: set fileencoding=cp1252 :\nPRICE = '"), Buffer.from([0x80]), Buffer.from("5'\n")]), "PRICE = '\u20ac5'"],
      ["euro15.py", Buffer.concat([Buffer.from("# coding=iso-8859-15\nPRICE = '"), Buffer.from([0xa4]), Buffer.from("5'\n")]), "PRICE = '\u20ac5'"],
      ["bom.py", Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from("NAME = 'caf\u00e9'\n", "utf8")]), "NAME = 'caf\u00e9'"],
    ];
    for (const [name, bytes, line] of cases) {
      assert.equal(await pythonVerdict(bytes), null, `sanity: Python compiles ${name}`);
      const answer = await upload(server.url, name, bytes);
      assert.equal(answer.status, 200, `${name}: ${JSON.stringify(answer.body)}`);
      assert.ok(answer.body.original_code.includes(line), `${name}: ${JSON.stringify(answer.body.original_code)}`);
      assert.ok(!answer.body.original_code.startsWith("\ufeff"), `${name}: the BOM is not part of the text`);
    }
  });

  test("an encoding Python refuses is a 400 naming it, as Python's own error does", async () => {
    const cases: Array<[string, Buffer, RegExp, RegExp]> = [
      ["unknown.py", Buffer.from("# -*- coding: klingon-8 -*-\nX = 1\n"), /Unknown or unsupported source encoding "klingon-8" declared on line 1/, /unknown encoding: klingon-8/],
      ["bomlatin.py", Buffer.from("\ufeff# coding: latin-1\nX = 1\n", "utf8"), /byte order mark but declares "latin-1" declared on line 1/, /encoding problem: (latin-1|iso-8859-1) with BOM/],
      ["badutf8.py", Buffer.concat([Buffer.from("# coding: utf-8\nX = '"), Buffer.from([0xe9]), Buffer.from("'\n")]), /not valid utf-8 text, the encoding declared on line 1/, /can't decode|invalid continuation|SyntaxError/],
    ];
    for (const [name, bytes, ours, python] of cases) {
      assert.match((await pythonVerdict(bytes)) ?? "compiled", python, `sanity: Python refuses ${name}`);
      const answer = await upload(server.url, name, bytes);
      assert.equal(answer.status, 400, name);
      assert.match(answer.body.error, ours, name);
    }
    // without a declaration, bytes that are not UTF-8 are refused as before
    const plain = await upload(server.url, "plain.py", Buffer.from([0x58, 0x3d, 0x27, 0xe9, 0x27, 0x0a]));
    assert.equal(plain.status, 400);
    assert.match(plain.body.error, /^File is not UTF-8 text/);
  });
});

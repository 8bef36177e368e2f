// The name the tools report for an upload: the client's bare file name, safe to use as a file name.
import assert from "node:assert/strict";
import { test } from "node:test";
import { toolFileName } from "../../server/analyzers/tool-file-name.ts";

test("a plain client name is kept as it is", () => {
  for (const name of ["main.py", "my file.py", "ünïcode.py", "-dash.py", ".hidden.py", "UPPER.PY"]) assert.equal(toolFileName(name), name);
});

test("directory parts are dropped, whichever separator the client's system uses", () => {
  assert.equal(toolFileName("C:\\Users\\me\\main.py"), "main.py");
  assert.equal(toolFileName("../../etc/main.py"), "main.py");
  assert.equal(toolFileName("a/b\\c.py"), "c.py");
});

test("control characters are replaced and names that are no file name fall back to upload.py", () => {
  assert.equal(toolFileName("bad\nname\u0000.py"), "bad_name_.py");
  for (const name of ["", ".", "..", "dir/"]) assert.equal(toolFileName(name), "upload.py");
});

test("a name too long for a file is shortened to 200 bytes, keeping .py and whole characters", () => {
  const long = toolFileName(`${"é".repeat(150)}.py`);
  assert.ok(new TextEncoder().encode(long).length <= 200);
  assert.ok(long.endsWith(".py") && long.startsWith("éé"));
  assert.doesNotMatch(long, /\uFFFD/);
});

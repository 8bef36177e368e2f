// The runner's command line as a careless operator types it: words after the command are refused, never silently dropped.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { execa } from "execa";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const cli = (...args: string[]) => execa(process.execPath, [path.join(ROOT, "compose/cli.ts"), ...args], { reject: false, cwd: ROOT });

test("a word after the command is refused with exit 2 and one line, before anything runs", async () => {
  // render needs no engine: before the fix it printed the stack's compose.yaml and exited 0, ignoring "extra"
  const render = await cli("render", "extra", "--stack", "compose/example-stack.json");
  assert.equal(render.exitCode, 2, render.stdout);
  assert.equal(render.stdout, "");
  assert.equal(render.stderr, 'compose: argument "extra": unexpected after the command render; next: pass the stack as --stack FILE and the project as --project NAME (--help)');
  // "down other-project" must not act on the project the state directory records
  const down = await cli("down", "other-project", "--state-dir", path.join(ROOT, "no-such-state-dir"), "--json");
  assert.equal(down.exitCode, 2);
  assert.deepEqual(JSON.parse(down.stderr), {
    error: 'argument "other-project"',
    cause: "unexpected after the command down",
    next: "pass the stack as --stack FILE and the project as --project NAME (--help)",
    class: "config",
    details: [],
  });
});

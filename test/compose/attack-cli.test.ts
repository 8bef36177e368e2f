// The runner's command line as a careless operator uses it: words after the command refused, never dropped; Ctrl-C answered with what to do next.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
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

test("Ctrl-C in the middle of up: one line saying what was interrupted and how to continue, exit 130, no docker command left running", async () => {
  // A stand-in for the compose binary (COMPOSE_BIN) that never answers: the only way to hold `up` at a known step without
  // timing; it records that it was called and its pid, so the test signals exactly then and can see it ended.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cdatk-signal-"));
  const fake = path.join(dir, "fake-compose");
  fs.writeFileSync(fake, `#!/bin/sh\necho $$ > "${dir}/called"\nexec sleep 600\n`, { mode: 0o755 });
  fs.mkdirSync(path.join(dir, "efs/codedetect/database"), { recursive: true });
  fs.mkdirSync(path.join(dir, "efs/codedetect/uploads"));
  const stack = path.join(dir, "stack.json");
  fs.writeFileSync(stack, JSON.stringify({ image: `127.0.0.1:5000/cdatk-app:v1@sha256:${"c".repeat(64)}`, efsRoot: path.join(dir, "efs"), project: "cdatk-signal" }));
  const run = execa(process.execPath, [path.join(ROOT, "compose/cli.ts"), "up", "--stack", stack, "--state-dir", path.join(dir, "state")], {
    reject: false,
    env: { COMPOSE_BIN: fake, COMPOSE_LOCK_DIR: path.join(dir, "lock") },
  });
  let ended = false;
  void run.finally(() => (ended = true));
  try {
    while (!fs.existsSync(path.join(dir, "called")) && !ended) await new Promise((resolve) => setTimeout(resolve, 50));
    const fakePid = Number(fs.readFileSync(path.join(dir, "called"), "utf8"));
    run.kill("SIGINT");
    const result = await run;
    assert.equal(result.signal, undefined, "ended by its own exit, not by the signal");
    assert.equal(result.exitCode, 130);
    assert.equal(
      result.stderr.split("\n").at(-1),
      `compose: up: interrupted by SIGINT; the stack may be between versions; next: re-run the same command: it continues from the record in ${path.join(dir, "state")} (an unfinished update completes or rolls back)`,
    );
    // the docker command it had started does not outlive it
    for (;;) {
      try {
        process.kill(fakePid, 0);
      } catch {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    run.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("an empty --state-dir or COMPOSE_STATE_DIR is refused before anything is read or written", async () => {
  const expected = "compose: --state-dir: is empty (from --state-dir or COMPOSE_STATE_DIR); next: pass the state directory, e.g. --state-dir /var/lib/codedetect";
  const byFlag = await cli("up", "--stack", "compose/example-stack.json", "--state-dir", "", "--dry-run");
  assert.equal(byFlag.exitCode, 2);
  assert.equal(byFlag.stderr, expected);
  const byEnv = await execa(process.execPath, [path.join(ROOT, "compose/cli.ts"), "status"], { reject: false, cwd: ROOT, env: { COMPOSE_STATE_DIR: " " } });
  assert.equal(byEnv.exitCode, 2);
  assert.equal(byEnv.stderr, expected);
});

test("a stack whose field name holds a newline is refused in one line", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cdatk-newline-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const stack = path.join(dir, "stack.json");
  fs.writeFileSync(stack, JSON.stringify({ image: `127.0.0.1:5000/cdatk-app:v1@sha256:${"a".repeat(64)}`, efsRoot: "/mnt/efs", environment: { "A\nB": "c" } }));
  const result = await cli("render", "--stack", stack);
  assert.equal(result.exitCode, 2);
  assert.equal(result.stderr.split("\n").length, 1, result.stderr);
  assert.match(result.stderr, /^compose: stack file \S+ field environment\.A B: /);
});

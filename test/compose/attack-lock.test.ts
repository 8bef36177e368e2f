// A COMPOSE_LOCK_DIR that is a file is a configuration error, not "another deploy is in progress"; a replace refused by a held lock says nothing but the refusal.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ComposeError } from "../../compose/errors.ts";
import { withLock } from "../../compose/lock.ts";
import { defineStack } from "../../compose/model.ts";
import { createRunner } from "../../compose/runner.ts";
import { DIGEST_1, REPO } from "./fixtures.ts";

test("a lock directory that is a file: refused as configuration, naming it, and nothing runs", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cdatk-lock-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const notADirectory = path.join(dir, "lockfile");
  fs.writeFileSync(notADirectory, "x");
  let ran = false;
  const error = await withLock(notADirectory, "up", async () => (ran = true)).then(
    () => null,
    (caught: unknown) => caught,
  );
  assert.ok(error instanceof ComposeError, String(error));
  assert.equal(error.errorClass, "config");
  assert.equal(error.message, `up: cannot take the host's deploy lock ${notADirectory}/lock: ${notADirectory} is not a directory; next: run as root, or set COMPOSE_LOCK_DIR to a directory this user may write`);
  assert.equal(ran, false);
});

test("a replace refused by a held lock logs only the refusal, not a request to continue: the agent asks again every few seconds while a deploy runs, for up to 15 minutes", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cdatk-lock-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const lines: string[] = [];
  const runner = createRunner({ stateDir: path.join(dir, "state"), lockDir: dir, log: (line) => lines.push(line) });
  const model = defineStack({ image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs" });
  await withLock(dir, "up NEW", async () => {
    for (let i = 0; i < 3; i += 1) await assert.rejects(runner.replace(model, "restart: the health check kept failing"), /another deploy is in progress/);
  });
  assert.deepEqual(lines, []);
});

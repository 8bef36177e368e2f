// Configuration errors: the server refuses to start with exit 2 and one line naming the variable.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { promisify } from "node:util";
import { loadConfig } from "../../server/config.ts";
import { ROOT, tempDir } from "../helpers/server-process.ts";

const run = promisify(execFile);

test("defaults: HOST 0.0.0.0, a 30 s drain, 7 days retention, 5 MB uploads", () => {
  const config = loadConfig({ DATA_DIR: "/srv/data" });
  assert.equal(config.host, "0.0.0.0");
  assert.equal(config.drainSeconds, 30);
  assert.equal(config.retentionDays, 7);
  assert.equal(config.maxUploadBytes, 5 * 1024 * 1024);
  assert.equal(config.dataDir, "/srv/data");
});

for (const [name, value, message] of [
  ["PORT", "http", /PORT must be a whole number/],
  ["PORT", "70000", /PORT must be between 0 and 65535/],
  ["DRAIN_SECONDS", "-1", /DRAIN_SECONDS must be a whole number/],
  ["LOG_LEVEL", "loud", /LOG_LEVEL must be one of/],
  ["CORS_ORIGINS", "*", /CORS_ORIGINS must list exact origins/],
  ["CORS_ORIGINS", "https://a.example/path", /not a bare origin/],
  ["LB_IDLE_TIMEOUT_SECONDS", "0", /LB_IDLE_TIMEOUT_SECONDS must be between 1 and 4000/],
  ["LB_IDLE_TIMEOUT_SECONDS", "60s", /LB_IDLE_TIMEOUT_SECONDS must be a whole number/],
] as const) {
  test(`${name}=${value} is refused: ${message}`, () => {
    assert.throws(() => loadConfig({ [name]: value }), message);
  });
}

test("the server exits 2 with one precise line on a bad variable", async () => {
  await assert.rejects(
    run(process.execPath, [path.join(ROOT, "server/main.ts")], { env: { ...process.env, PORT: "abc", DATA_DIR: tempDir() } }),
    (error: Error & { code: number; stderr: string }) => {
      assert.equal(error.code, 2);
      assert.equal(error.stderr, 'codedetect: configuration error: PORT must be a whole number between 0 and 65535, got "abc"\n');
      return true;
    },
  );
});

test("the server exits 1 with one line when DATA_DIR cannot hold the database", async () => {
  const notADirectory = path.join(tempDir(), "a-file");
  fs.writeFileSync(notADirectory, "");
  const dataDir = path.join(notADirectory, "data");
  await assert.rejects(
    run(process.execPath, [path.join(ROOT, "server/main.ts")], { env: { ...process.env, PORT: "0", DATA_DIR: dataDir } }),
    (error: Error & { code: number; stderr: string }) => {
      assert.equal(error.code, 1);
      assert.equal(error.stderr.split("\n").length, 2, error.stderr);
      assert.match(error.stderr, /^codedetect: cannot use the database under .*a-file\/data: .*ENOTDIR/);
      return true;
    },
  );
});

// The executor against real processes and files: retries bounded by attempts and deadline, permanent errors not retried, atomic writes, probes.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { ComposeError } from "../../compose/errors.ts";
import { createExecutor, type ProbeResult } from "../../compose/executor.ts";
import { chooseCompose } from "../../compose/locate.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "compose-executor-"));
const counter = path.join(tmp, "attempts");
/** A command that appends to a file each time it runs, then fails with the given message. */
const failing = (message: string) => ["sh", "-c", `echo x >> ${counter}; echo "${message}" >&2; exit 1`];
const attempts = () => fs.readFileSync(counter, "utf8").trim().split("\n").length;

describe("executor", () => {
  it("retries a failing run with backoff, up to its attempts, then says what failed, why, and what next", async () => {
    fs.rmSync(counter, { force: true });
    const lines: string[] = [];
    const executor = createExecutor({ log: (line) => lines.push(line) });
    const error = await executor
      .perform({ kind: "run", argv: failing("dial tcp 127.0.0.1:5999: connect: connection refused"), retry: { attempts: 3, minDelayMs: 20, maxDelayMs: 100, deadlineMs: 10_000 }, purpose: "pull x", next: "check the registry" })
      .catch((e: unknown) => e);
    assert.ok(error instanceof ComposeError);
    assert.equal(attempts(), 3);
    assert.match(error.message, /^pull x failed \(3 attempts over [\d.]+ s\): dial tcp 127.0.0.1:5999: connect: connection refused; next: check the registry$/);
    assert.equal(lines.filter((line) => line.includes("retrying in")).length, 2);
  });

  it("stops retrying at the overall deadline", async () => {
    fs.rmSync(counter, { force: true });
    await assert.rejects(createExecutor().perform({ kind: "run", argv: failing("timeout"), retry: { attempts: 100, minDelayMs: 100, maxDelayMs: 100, deadlineMs: 700 } }), ComposeError);
    assert.ok(attempts() < 10, `${attempts()} attempts`);
  });

  it("does not retry an error that retrying cannot fix", async () => {
    fs.rmSync(counter, { force: true });
    const retry = { attempts: 5, minDelayMs: 10, maxDelayMs: 10, deadlineMs: 5000, permanent: ["manifest unknown"], permanentNext: "check the digest" };
    const action = { kind: "run" as const, argv: failing("manifest unknown: manifest unknown"), retry, next: "check the network" };
    await assert.rejects(createExecutor().perform(action), /\(1 attempt over .*manifest unknown; next: check the digest$/);
    assert.equal(attempts(), 1);
  });

  it("reports a missing program precisely", async () => {
    await assert.rejects(createExecutor().perform({ kind: "run", argv: ["no-such-program-here", "x"] }), /ENOENT \(no-such-program-here\)/);
  });

  it("writes files atomically with their mode, and prints rather than performs in dry-run", async () => {
    const file = path.join(tmp, "sub", "compose.yaml");
    await createExecutor().perform({ kind: "write", path: file, content: "a: 1\n", mode: 0o640 });
    assert.equal(fs.readFileSync(file, "utf8"), "a: 1\n");
    assert.equal(fs.statSync(file).mode & 0o777, 0o640);
    const lines: string[] = [];
    const dry = createExecutor({ dryRun: true, log: (line) => lines.push(line) });
    await dry.performAll([{ kind: "write", path: file, content: "b: 2\n", mode: 0o644 }, { kind: "run", argv: ["false"] }]);
    assert.equal(fs.readFileSync(file, "utf8"), "a: 1\n");
    assert.deepEqual(lines, [`would write ${file} (mode 0644, 5 bytes)`, "would run   false"]);
  });

  it("polls a probe until done, fails at once when it fails, and stops at its deadline", async () => {
    let calls = 0;
    const results: ProbeResult[] = [{ state: "pending", detail: "starting" }, { state: "pending", detail: "starting" }, { state: "done" }];
    const executor = createExecutor({ probe: (name) => (name === "ok" ? async () => results[calls++] ?? { state: "done" } : name === "bad" ? async () => ({ state: "failed", detail: "unhealthy" }) : async () => ({ state: "pending", detail: "still starting" })) });
    await executor.perform({ kind: "wait", until: "ok", deadlineMs: 5000 });
    assert.equal(calls, 3);
    await assert.rejects(executor.perform({ kind: "wait", until: "bad", deadlineMs: 5000 }), /wait bad: unhealthy/);
    await assert.rejects(executor.perform({ kind: "wait", until: "slow", deadlineMs: 600 }), /not reached within 0.6 s \(last seen: still starting\)/);
  });
});

describe("finding Compose v2", () => {
  const ok = (stdout: string) => ({ exitCode: 0, stdout, stderr: "", failure: null });
  it("takes the plugin, or a standalone v2 binary, never v1", () => {
    assert.deepEqual(chooseCompose([{ argv: ["docker", "compose"], outcome: ok("2.26.1-4\n") }]), { argv: ["docker", "compose"], version: "2.26.1-4" });
    const standalone = chooseCompose([
      { argv: ["docker", "compose"], outcome: { exitCode: 1, stdout: "", stderr: "docker: 'compose' is not a docker command.", failure: null } },
      { argv: ["docker-compose"], outcome: ok("v2.29.7") },
    ]);
    assert.deepEqual(standalone, { argv: ["docker-compose"], version: "2.29.7" });
  });
  it("says what each candidate was and where a v2 binary comes from", () => {
    assert.throws(
      () =>
        chooseCompose([
          { argv: ["docker", "compose"], outcome: { exitCode: 1, stdout: "", stderr: "docker: 'compose' is not a docker command.", failure: null } },
          { argv: ["docker-compose"], outcome: ok("1.29.2") },
        ]),
      /^ComposeError: Compose v2 not found: `docker compose` failed \(docker: 'compose' is not a docker command.\); `docker-compose` is v1.29.2 \(Compose v1, retired\); next: install the Compose v2 plugin .*\/opt\/codedetect\/docker-compose/,
    );
    assert.throws(() => chooseCompose([{ argv: ["docker", "compose"], outcome: { exitCode: -1, stdout: "", stderr: "", failure: "ENOENT (docker)" } }]), /docker not found/);
  });
});

// End to end on a real Docker Engine with Compose v2 and a real registry: pull, start, serve, update, roll back, survive a dead registry, drain.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, it } from "node:test";
import { execa } from "execa";
import { ComposeError } from "../../compose/errors.ts";
import { defineStack, type StackInput } from "../../compose/model.ts";
import { createRunner, type Runner } from "../../compose/runner.ts";
import { appVersions, describeDocker, docker, dockerUnavailable, efsStandIn, freePort, push, REGISTRY, REPO_ROOT, startRegistry } from "./docker-harness.ts";

const reason = await dockerUnavailable({ baseImage: true, registry: true });

const SAMPLE = `"""Sample upload."""
import subprocess


def run(command):
    """Runs a shell command."""
    return subprocess.call(command, shell=True)


def evaluate(text):
    """Evaluates text."""
    return eval(text)
`;

describeDocker("the stack on a real Docker Engine", reason, () => {
  const project = `cdtest${process.pid}`;
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "compose-state-"));
  const efsRoot = efsStandIn();
  const repo = `${REGISTRY}/codedetect-test`;
  const lines: string[] = [];
  const refs = { v1: "", v2: "", bad: "" };
  let port = 0;
  let runner: Runner;
  let input: (image: string) => StackInput;

  const url = (route: string) => `http://127.0.0.1:${port}${route}`;
  const health = async () => {
    const response = await fetch(url("/api/health"));
    return { status: response.status, body: (await response.json()) as { version: string; status: string } };
  };
  const status = async () => (await runner.status(project)).services.find((s) => s.service === "app");

  before(async () => {
    port = await freePort();
    const built = await appVersions(repo);
    Object.assign(refs, built.refs);
    lines.push(`build v1: ${built.buildSeconds.toFixed(1)} s`);
    input = (image) => ({
      image,
      efsRoot,
      project,
      bindAddress: "127.0.0.1",
      hostPort: port,
      drainSeconds: 2,
      health: { intervalSeconds: 1, timeoutSeconds: 3, retries: 3, startPeriodSeconds: 5 },
      environment: { LOG_LEVEL: "info", ANALYZER_WORKERS: "1" },
    });
    runner = createRunner({
      stateDir,
      lockDir: `${stateDir}-lock`,
      pullRetry: { attempts: 3, minDelayMs: 300, maxDelayMs: 1000, deadlineMs: 10_000 },
      pullTimeoutMs: 60_000,
      log: (line) => lines.push(line),
    });
  });

  after(async () => {
    await runner?.down(project).catch(() => undefined);
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.rmSync(`${stateDir}-lock`, { recursive: true, force: true });
    fs.rmSync(efsRoot, { recursive: true, force: true });
  });

  it("pulls v1 from the registry, starts it from the rendered model, and analyses an upload with the tools inside", async () => {
    await assert.rejects(docker(["image", "inspect", refs.v1.replace(/:v1@/, "@")]), "the image must come from the registry");
    const result = await runner.up(defineStack(input(refs.v1)));
    assert.equal(result.changed, true);
    assert.ok(lines.some((line) => line.startsWith("run   docker pull")), lines.join("\n"));
    assert.deepEqual((await health()).body.version, "1.0.0-test");

    const form = new FormData();
    form.append("file", new Blob([SAMPLE]), "sample.py");
    const response = await fetch(url("/api/analyze"), { method: "POST", body: form });
    const analysis = (await response.json()) as { score: number; analysis: { security_issues: { test_id: string }[]; complexity: Record<string, { name: string }[]> } };
    assert.equal(response.status, 200, JSON.stringify(analysis));
    assert.ok(analysis.score < 100 && analysis.score >= 0);
    const tests = analysis.analysis.security_issues.map((issue) => issue.test_id);
    assert.ok(tests.includes("B307") && tests.includes("B602"), `bandit found ${tests}`);
    assert.deepEqual(Object.values(analysis.analysis.complexity)[0]?.map((entry) => entry.name).sort(), ["evaluate", "run"]);

    const database = path.join(efsRoot, "codedetect/database/codedetect.db");
    assert.equal(fs.statSync(database).uid, 1000);
    const uploads = fs.readdirSync(path.join(efsRoot, "codedetect/uploads")).filter((name) => name.endsWith(".py"));
    assert.equal(uploads.length, 1);
    assert.equal(fs.statSync(path.join(efsRoot, "codedetect/uploads", uploads[0] ?? "")).uid, 1000);
  });

  it("does nothing when asked for the version that already runs", async () => {
    const before = await status();
    const result = await runner.up(defineStack(input(refs.v1)));
    assert.equal(result.changed, false);
    assert.deepEqual(result.actions, []);
    assert.equal((await status())?.id, before?.id);
  });

  it("updates to a healthy v2, which then serves", async () => {
    await runner.up(defineStack(input(refs.v2)));
    assert.equal((await health()).body.version, "2.0.0-test");
    const state = await runner.status(project);
    assert.equal(state.current, refs.v2);
    assert.deepEqual(state.history.map((record) => record.image), [refs.v2, refs.v1]);
    const digest = refs.v2.slice(refs.v2.indexOf("@") + 1);
    assert.ok(state.services[0]?.repoDigests.some((d) => d.endsWith(digest)), JSON.stringify(state.services));
  });

  it("rolls back from a version whose health check fails; the CLI exits 1 with the reason and the last log lines", async () => {
    const stackFile = path.join(stateDir, "stack.json");
    fs.writeFileSync(stackFile, JSON.stringify(input(refs.bad)));
    const cli = await execa(process.execPath, [path.join(REPO_ROOT, "compose/cli.ts"), "up", "--stack", stackFile, "--state-dir", stateDir], { reject: false, env: { COMPOSE_LOCK_DIR: `${stateDir}-lock` } });
    assert.equal(cli.exitCode, 1, cli.stderr);
    const report = cli.stderr.slice(cli.stderr.indexOf("compose: up ")).split("\n");
    assert.match(report[0] ?? "", /^compose: up cdtest\d+ to .*:bad@sha256:[a-f0-9]{64}: it did not turn healthy: health check failing \(deliberately unhealthy\); it was stopped alone: v2 \(sha256:[a-f0-9]{12}…\) served throughout and still does; next: /);
    assert.match(report[1] ?? "", /^ {2}last log lines of cdtest\d+\/app on bad:$/);
    assert.ok(report.some((line) => line.includes('"msg":"listening"')), cli.stderr);
    const now = await health();
    assert.equal(now.status, 200);
    assert.equal(now.body.version, "2.0.0-test");
    assert.equal((await runner.status(project)).current, refs.v2);
    // Retention: the good versions stay for a later rollback; the failed one is pruned.
    const local = await docker(["image", "ls", "--digests", "--format", "{{.Digest}}", repo]);
    for (const kept of [refs.v1, refs.v2]) assert.ok(local.includes(kept.slice(kept.indexOf("@") + 1)), `${kept} not in ${local}\n${lines.join("\n")}`);
    assert.ok(!local.includes(refs.bad.slice(refs.bad.indexOf("@") + 1)), local);
  });

  it("with the registry stopped during a pull: bounded retries, a precise error, the running stack untouched", async () => {
    // A registry that answered a moment ago and is gone now. (Nothing is pushed to it: the pull fails before any
    // content matters, and pushing the whole image to an empty registry would cost a minute.)
    const registry = await startRegistry();
    await registry.stop();
    const v3 = `${registry.address}/codedetect-test:v3${refs.v2.slice(refs.v2.indexOf("@"))}`;
    const before = await status();
    const composeFile = fs.readFileSync(path.join(stateDir, "compose.yaml"), "utf8");
    const error = await runner.up(defineStack(input(v3))).then(
      () => assert.fail("up must fail without its registry"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof ComposeError, String(error));
    assert.match(error.message, new RegExp(`^pull ${v3.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} failed \\(3 attempts over [\\d.]+ s\\): .*connection refused; next: check that ${registry.address} is reachable from this host, then re-run up; the running stack was not changed$`));
    const after = await status();
    assert.equal(after?.id, before?.id);
    assert.equal(after?.health, "healthy");
    assert.equal(fs.readFileSync(path.join(stateDir, "compose.yaml"), "utf8"), composeFile);
    assert.equal((await health()).body.version, "2.0.0-test");
  });

  it("on docker stop, the server drains and exits 0 within the grace period", async () => {
    const container = (await status())?.container ?? "";
    const started = Date.now();
    await docker(["stop", container], { timeoutMs: 120_000 });
    const seconds = (Date.now() - started) / 1000;
    const model = defineStack(input(refs.v2));
    assert.ok(seconds >= model.drainSeconds, `stopped after ${seconds} s, before the ${model.drainSeconds} s drain`);
    // 0, not 137: the server stopped by itself, before Docker's SIGKILL at the end of the grace period
    assert.equal(await docker(["inspect", "--format", "{{.State.ExitCode}}", container]), "0");
    const logs = await docker(["logs", "--tail", "20", container]);
    assert.match(logs, /"reason":"SIGTERM".*draining/);
    assert.match(logs, /"msg":"stopped"/);
  });

  it("brings a stopped stack back with up, and removes it with down", async () => {
    const result = await runner.up(defineStack(input(refs.v2)));
    assert.equal(result.changed, true);
    assert.equal((await health()).body.version, "2.0.0-test");
    await runner.down(project);
    assert.deepEqual((await runner.status(project)).services, []);
    assert.deepEqual((await runner.down(project)).actions, []);
  });
});

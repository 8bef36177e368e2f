// The runner as a careless or hostile operator drives it (issue 6, items 16–25), on a real Docker Engine with small stand-in images.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, it } from "node:test";
import fc from "fast-check";
import { ComposeError } from "../../compose/errors.ts";
import { parseState, serializeState } from "../../compose/state.ts";
import { describeDocker, docker, dockerUnavailable, REGISTRY } from "./docker-harness.ts";
import { testStack, type TestStack } from "./hostile-harness.ts";
import { stateContents } from "./state-contents.ts";
import { tinyImage } from "./tiny-app.ts";

const reason = await dockerUnavailable({ baseImage: true, registry: true });

const digestOf = (ref: string) => ref.slice(ref.indexOf("@") + 1);
const repositoryOf = (ref: string) => ref.slice(0, ref.lastIndexOf(":", ref.indexOf("@")));
const localImage = async (ref: string) => docker(["image", "inspect", "--format", "{{.Id}}", `${repositoryOf(ref)}@${digestOf(ref)}`]).then(() => true, () => false);
const failure = async (promise: Promise<unknown>): Promise<ComposeError> => {
  const error = await promise.then(() => assert.fail("must fail"), (e: unknown) => e);
  assert.ok(error instanceof ComposeError, String(error));
  return error;
};

describeDocker("the runner against a hostile operator, on a real Docker Engine", reason, () => {
  const repo = `cdrun-app-${process.pid}`;
  const refs = { v1: "", v2: "", slow: "", crash: "", silent: "", other: "" };
  const stacks: TestStack[] = [];
  const stack = async (name: string) => {
    const created = await testStack(name);
    stacks.push(created);
    return created;
  };

  before(async () => {
    refs.v1 = await tinyImage(repo, "v1", { version: "1" });
    refs.v2 = await tinyImage(repo, "v2", { version: "2" });
    refs.slow = await tinyImage(repo, "slow", { version: "slow", readyAfterMs: 4000 });
    refs.crash = await tinyImage(repo, "crash", { version: "crash", crashWith: 2 });
    refs.silent = await tinyImage(repo, "silent", { version: "silent", crashWith: 1, silent: true });
    refs.other = await tinyImage(`cdrun-other-${process.pid}`, "crash", { version: "other", crashWith: 2 });
  });

  after(async () => {
    for (const s of stacks) await s.remove();
    const images = (await docker(["image", "ls", "--quiet", "--no-trunc", "--filter", `reference=${REGISTRY}/cdrun-*-${process.pid}`])).split("\n").filter(Boolean);
    if (images.length > 0) await docker(["image", "rm", "--force", ...new Set(images)]).catch(() => undefined);
  });

  it("16: a state.json of the wrong shape refuses the update with exit 2, naming file and field, before anything changes", async () => {
    const s = await stack("shape");
    await s.runner().up(s.model(refs.v1));
    const before = await s.container();
    const composeFile = fs.readFileSync(`${s.stateDir}/compose.yaml`, "utf8");
    const valid = JSON.parse(fs.readFileSync(s.stateFile, "utf8")) as Record<string, unknown>;
    for (const [content, field] of [
      ['{"current":{}}', "project"],
      [JSON.stringify({ ...valid, current: {} }), "current.project"],
      [JSON.stringify({ ...valid, history: "none" }), "history"],
      [JSON.stringify(valid).slice(0, 200), "(root)"],
    ] as const) {
      fs.writeFileSync(s.stateFile, content);
      const result = await s.cli(["up", "--stack", s.stackFile(refs.crash)]);
      assert.equal(result.exitCode, 2, result.stderr);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      assert.ok(result.stderr.startsWith(`compose: ${s.stateFile} field ${field}: `), result.stderr);
      assert.equal(fs.readFileSync(s.stateFile, "utf8"), content);
      assert.equal(fs.readFileSync(`${s.stateDir}/compose.yaml`, "utf8"), composeFile);
      assert.deepEqual(await s.container(), before);
      assert.equal(await s.serving(), "1");
    }
  });

  it("18: a state directory belongs to one project: another stack is refused, status and down act on the recorded project", async () => {
    const s = await stack("proj");
    await s.runner().up(s.model(refs.v1));
    const before = await s.container();
    const intruder = await s.cli(["up", "--stack", s.stackFile(refs.v2, { project: `${s.project}x` })]);
    assert.equal(intruder.exitCode, 2, intruder.stderr);
    assert.match(intruder.stderr, new RegExp(`belongs to project "${s.project}" \\(${s.stateFile}\\), not "${s.project}x"`));
    assert.deepEqual(await s.container(), before);
    const status = await s.cli(["status"]);
    assert.equal(status.exitCode, 0, status.stderr);
    const reported = JSON.parse(status.stdout) as { project: string; services: { state: string }[]; current: string };
    assert.equal(reported.project, s.project);
    assert.equal(reported.services[0]?.state, "running");
    assert.equal(reported.current, refs.v1);
    const wrongDown = await s.cli(["down", "--project", `${s.project}x`]);
    assert.equal(wrongDown.exitCode, 2, wrongDown.stderr);
    assert.equal(await s.serving(), "1");
    const down = await s.cli(["down"]);
    assert.equal(down.exitCode, 0, down.stderr);
    assert.equal(await s.container(), null);
  });

  it("19: the rollback waits as long as the good version's own health settings need, not --health-deadline", async () => {
    const s = await stack("deadline");
    await s.runner().up(s.model(refs.slow));
    const error = await failure(s.runner({ healthDeadlineMs: 2000 }).up(s.model(refs.crash)));
    assert.match(error.message, /it was stopped alone: slow \(sha256:[a-f0-9]{12}…\) served throughout and still does/);
    assert.equal(await s.serving(), "slow");
  });

  it("20: retention keeps the last distinct digests: the same image under other tags does not push the previous version out", async () => {
    const s = await stack("retain");
    await s.runner().up(s.model(refs.v1));
    await s.runner().up(s.model(refs.v2));
    for (const alias of ["v2-alias", "v2-alias-2", "v2-alias-3"]) await s.runner().up(s.model(refs.v2.replace(":v2@", `:${alias}@`)));
    const status = await s.runner().status();
    assert.deepEqual(status.history.map((record) => digestOf(record.image)), [digestOf(refs.v2), digestOf(refs.v1)]);
    assert.match(status.history[0]?.image ?? "", /:v2-alias-3@/);
    assert.ok(await localImage(refs.v1), "the previous version must stay on the host");
  });

  it("21: with the state file gone, an update that would replace the healthy service is refused; recording what runs makes it possible", async () => {
    const s = await stack("gone");
    await s.runner().up(s.model(refs.v1));
    const before = await s.container();
    fs.rmSync(s.stateFile);
    const refused = await s.cli(["up", "--stack", s.stackFile(refs.crash)]);
    assert.equal(refused.exitCode, 2, refused.stderr);
    assert.match(refused.stderr, /runs healthy on \S+:v1@sha256:[a-f0-9]{64}, but \S+state\.json records no version to roll back to; next: record what runs first/);
    assert.deepEqual(await s.container(), before);
    const recorded = await s.runner().up(s.model(refs.v1));
    assert.equal(recorded.changed, false);
    assert.deepEqual(await s.container(), before);
    const error = await failure(s.runner().up(s.model(refs.crash)));
    assert.match(error.message, /it was stopped alone: v1 /);
    assert.equal(await s.serving(), "1");
  });

  it("22: a record that cannot be written after a passed gate fails loudly, and the next rollback goes to the version that passed", async () => {
    const s = await stack("record");
    await s.runner().up(s.model(refs.v1));
    const blocker = `${s.stateFile}.${process.pid}.tmp`;
    const runner = s.runner({
      log: (line) => {
        // The state file's temporary name is taken while the new version is gated: the record after the gate fails.
        if (line.startsWith("wait ") && line.includes(":v2@")) fs.mkdirSync(blocker);
      },
    });
    const error = await failure(runner.up(s.model(refs.v2)));
    assert.equal(error.exitCode, 1);
    assert.match(error.message, /: it passed its health gate and serves, but recording it failed: write \S+state\.json: .*EISDIR.*; next: fix .* then re-run up with the same stack: it restarts nothing and records it; until then \S+ names it as pending/);
    const status = await s.runner().status();
    assert.equal(status.current, refs.v1);
    assert.equal(status.pending, refs.v2);
    assert.equal(await s.serving(), "2");
    fs.rmdirSync(blocker);
    const rollback = await failure(s.runner().up(s.model(refs.crash)));
    assert.match(rollback.message, /it was stopped alone: v2 /);
    assert.equal(await s.serving(), "2");
    assert.equal((await s.runner().status()).current, refs.v2);
  });

  it("23: a crashing version's real exit code, its log lines without escape codes, and no promise of log lines that are not there", async () => {
    const s = await stack("msgs");
    await s.runner().up(s.model(refs.v1));
    const result = await s.cli(["up", "--stack", s.stackFile(refs.crash)]);
    assert.equal(result.exitCode, 1, result.stderr);
    const report = result.stderr.slice(result.stderr.indexOf("compose: up ")).split("\n");
    assert.match(report[0] ?? "", /it did not turn healthy: the container keeps exiting \(code 2, restarted \d+ times? during this deploy\); it was stopped alone: v1 .* served throughout and still does; next: fix the new version \(its last log lines follow\) and deploy again$/);
    assert.equal((report[0]?.match(/next:/g) ?? []).length, 1);
    assert.ok(report.some((line) => line === "  fatal: cannot start"), result.stderr);
    assert.doesNotMatch(result.stderr, /\u001b/);
    const silent = await failure(s.runner().up(s.model(refs.silent)));
    assert.match(silent.message, /keeps exiting \(code 1, /);
    assert.deepEqual(silent.details, []);
    assert.doesNotMatch(silent.message, /follow/);
    assert.equal(await s.serving(), "1");
  });

  it("24: the failed image of another repository is pruned after the rollback; the kept versions stay", async () => {
    const s = await stack("prune");
    await s.runner().up(s.model(refs.v1));
    await failure(s.runner().up(s.model(refs.other)));
    assert.equal(await s.serving(), "1");
    assert.equal(await localImage(refs.other), false, "the failed image of the other repository must be pruned");
    assert.ok(await localImage(refs.v1));
  });

  it("25: up --dry-run refuses what up refuses, with the same exit code; down of an unknown project creates nothing", async () => {
    const s = await stack("dry");
    await s.runner().up(s.model(refs.v1));
    for (const file of [s.stackFile(refs.v2, { project: `${s.project}x` }), s.stackFile(refs.v2, { efsRoot: "/nonexistent-efs" })]) {
      const dry = await s.cli(["up", "--dry-run", "--stack", file]);
      const real = await s.cli(["up", "--stack", file]);
      assert.equal(dry.exitCode, 2, dry.stderr);
      assert.equal(real.exitCode, dry.exitCode);
      assert.equal(dry.stderr.split("\n").find((line) => line.startsWith("compose: ")), real.stderr.split("\n").find((line) => line.startsWith("compose: ")));
    }
    const fine = await s.cli(["up", "--dry-run", "--stack", s.stackFile(refs.v2)]);
    assert.equal(fine.exitCode, 0, fine.stderr);
    assert.equal(await s.serving(), "1");
    const nowhere = `${s.stateDir}-unknown`;
    const down = await s.cli(["down", "--project", `${s.project}unknown`, "--state-dir", nowhere]);
    assert.equal(down.exitCode, 0, down.stderr);
    assert.match(down.stderr, /nothing to do: project \S+unknown has no containers/);
    assert.equal(fs.existsSync(nowhere), false);
  });

  it("property: whatever state.json holds, up either refuses before any change or ends with a healthy service; the running one is never lost", async () => {
    const s = await stack("prop");
    await s.runner().up(s.model(refs.v1));
    const valid = parseState(fs.readFileSync(s.stateFile, "utf8"), s.stateFile);
    assert.ok(valid);
    const validText = serializeState(valid);
    const outcomes: string[] = [];
    // Each run touches the engine (a rollback takes seconds): a modest number of runs, with the missing and the valid file always among them.
    await fc.assert(
      fc.asyncProperty(stateContents(valid), async (text) => {
        if (text === null) fs.rmSync(s.stateFile, { force: true });
        else fs.writeFileSync(s.stateFile, text);
        const before = await s.container();
        const error = await failure(s.runner().up(s.model(refs.crash)));
        if (error.exitCode === 2) {
          outcomes.push("refused");
          assert.deepEqual(await s.container(), before, error.message);
          assert.equal(text === null ? fs.existsSync(s.stateFile) : fs.readFileSync(s.stateFile, "utf8"), text === null ? false : text);
        } else {
          outcomes.push("rolled back");
          // with state.json gone but compose.yaml kept, nothing is recorded beside v1: the refusal above; otherwise v1 served throughout
          assert.match(error.message, /it was stopped alone: v1 .*served throughout and still does/);
        }
        assert.equal(await s.serving(), "1");
        assert.equal((await s.container())?.health, "healthy");
        fs.writeFileSync(s.stateFile, validText);
      }),
      { numRuns: 8, examples: [[null], [validText]] },
    );
    assert.ok(outcomes.includes("refused") && outcomes.includes("rolled back"), outcomes.join(", "));
  });
});

// The in-place update on a real Docker Engine under load (issue 16): an update, a failed update, a rollback and kill -9s of the runner mid-swap, with 0 failed requests and every acknowledged upload stored.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, it } from "node:test";
import { execa } from "execa";
import type { StackInput, StackModel } from "../../compose/model.ts";
import { createRunner } from "../../compose/runner.ts";
import { failedAnswers, startUpdateLoad, type UpdateLoad } from "../../scripts/bench/update-load.ts";
import { checkAcknowledged, countRows } from "../../scripts/ha/check.ts";
import { appVersions, describeDocker, docker, dockerUnavailable, efsStandIn, freePort, REGISTRY, REPO_ROOT } from "./docker-harness.ts";

const reason = await dockerUnavailable({ baseImage: true, registry: true });

describeDocker("an in-place update under load, on a real Docker Engine", reason, () => {
  const project = `cdswap${process.pid}`;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cdswap-"));
  const stateDir = path.join(root, "state");
  const lockDir = path.join(root, "lock");
  const efsRoot = efsStandIn();
  // an env_file like bootstrap's database.env: a replace must create the new container from what it holds now
  const envFile = path.join(root, "app.env");
  fs.writeFileSync(envFile, "REPLACE_MARK=before\n");
  let refs = { v1: "", v2: "", bad: "" };
  let port = 0;
  let uploadsBefore = 0;

  const versionOf = { v1: "1.0.0-test", v2: "2.0.0-test" };
  const stackFile = (image: string) => {
    const input: StackInput = {
      image,
      efsRoot,
      project,
      bindAddress: "127.0.0.1",
      hostPort: port,
      drainSeconds: 2,
      // generous: on a shared 2-core machine the analyzers can take 30 s to warm and `node healthcheck.js` alone seconds
      // (a version that turns healthy ends its start period at once; the failed update below has a deadline of its own)
      health: { intervalSeconds: 1, timeoutSeconds: 10, retries: 3, startPeriodSeconds: 60 },
      // one client address (127.0.0.1) sends every upload: its fair share must not refuse them
      environment: { LOG_LEVEL: "warn", ANALYZER_WORKERS: "1", CLIENT_MAX_ANALYSES: "64" },
      envFile,
    };
    const file = path.join(root, `stack-${image.slice(image.lastIndexOf(":", image.indexOf("@")) + 1, image.indexOf("@"))}.json`);
    fs.writeFileSync(file, JSON.stringify(input));
    return file;
  };
  const cliArgs = (image: string) => [path.join(REPO_ROOT, "compose/cli.ts"), "up", "--stack", stackFile(image), "--state-dir", stateDir];
  const env = { ...process.env, COMPOSE_LOCK_DIR: lockDir };
  const up = (image: string, ...extra: string[]) => execa(process.execPath, [...cliArgs(image), ...extra], { reject: false, env });

  /** What runs: the app containers (image, health) and the port holders of the project. */
  const running = async () => {
    const lines = (await docker(["ps", "--all", "--filter", `label=com.docker.compose.project=${project}`, "--format", '{{.Label "com.docker.compose.service"}} {{.Image}} {{.Status}}'])).split("\n").filter(Boolean);
    return { apps: lines.filter((line) => line.startsWith("app ")), holders: lines.filter((line) => line.startsWith("app-port ")) };
  };
  /** The app containers' ids and start times. */
  const serving = async () => docker(["inspect", "--format", "{{.Id}} {{.State.StartedAt}}", ...(await docker(["ps", "--quiet", "--filter", `label=com.docker.compose.project=${project}`, "--filter", "label=com.docker.compose.service=app"])).split("\n")]);
  const health = async () => (await (await fetch(`http://127.0.0.1:${port}/api/health`)).json()) as { version: string };
  const state = () => JSON.parse(fs.readFileSync(path.join(stateDir, "state.json"), "utf8")) as { current: { image: { tag: string } }; pending: unknown };

  /** Exactly one version serves, the recorded one, with nothing left running twice. */
  const assertConverged = async (tag: "v1" | "v2") => {
    const { apps, holders } = await running();
    assert.equal(apps.length, 1, apps.join("\n"));
    assert.match(apps[0] ?? "", new RegExp(`:${tag} Up .*\\(healthy\\)$`));
    assert.equal(holders.length, 1, holders.join("\n"));
    assert.equal(state().current.image.tag, tag);
    assert.equal(state().pending, null);
    assert.equal((await health()).version, versionOf[tag]);
  };

  /** Runs `during` under 4 clients looping health, stats and a fresh upload; every request must succeed and every acknowledged upload be stored. */
  const underLoad = async (during: () => Promise<void>): Promise<UpdateLoad> => {
    const load = startUpdateLoad(`http://127.0.0.1:${port}`, 4);
    const outcome = await during().then(() => null, (error: unknown) => error);
    const report = await load.stop();
    if (outcome) throw outcome;
    const failed = failedAnswers(report.answers);
    // counts, not deepEqual on the array: a diff of thousands of failures would take the memory of the machine
    assert.equal(failed.length, 0, `${failed.length} of ${report.answers.length} requests failed, the first: ${JSON.stringify(failed.slice(0, 10))}`);
    const uploads = report.answers.filter((a) => a.route === "/api/analyze");
    assert.ok(report.acknowledged.size > 0 && report.acknowledged.size === uploads.length, `${report.acknowledged.size} of ${uploads.length} uploads acknowledged`);
    const rows = countRows(efsRoot);
    assert.equal(rows.analyses - uploadsBefore, report.acknowledged.size, "rows of the analysis table = acknowledged uploads");
    uploadsBefore = rows.analyses;
    assert.deepEqual(checkAcknowledged(efsRoot, report.acknowledged), { missingRows: [], missingFiles: [], corruptFiles: [] });
    const draining = report.answers.filter((a) => a.healthStatus === "draining").length;
    if (draining > 0) process.stdout.write(`# ${draining} health check(s) answered "draining" by the old version\n`);
    return report;
  };

  before(async () => {
    port = await freePort();
    refs = (await appVersions(`${REGISTRY}/codedetect-swap-test`)).refs;
    const first = await up(refs.v1);
    assert.equal(first.exitCode, 0, first.stderr);
    uploadsBefore = countRows(efsRoot).analyses;
  });

  after(async () => {
    await execa("docker", ["compose", "--project-name", project, "down", "--remove-orphans", "--timeout", "5"], { reject: false });
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(efsRoot, { recursive: true, force: true });
  });

  it("an update: the new version starts beside the old one, takes the traffic after its gate, the old one finishes its requests; 0 failed requests, 0 lost uploads", async () => {
    let result: Awaited<ReturnType<typeof up>> | undefined;
    await underLoad(async () => {
      result = await up(refs.v2);
    });
    assert.equal(result?.exitCode, 0, result?.stderr);
    // the order that makes it gapless: start beside, gate, then close the old listener
    const steps = (result?.stderr ?? "").split("\n").filter((line) => /^(run|wait) /.test(line)).map((line) => (/--scale/.test(line) ? "start beside" : /^wait/.test(line) ? "gate" : /kill --signal SIGUSR2/.test(line) ? "close old" : /^run +docker (stop|rm) /.test(line) ? line.split(/ +/)[2] : "other"));
    assert.deepEqual(steps.filter((step) => step !== "other"), ["start beside", "gate", "close old", "stop", "rm"]);
    await assertConverged("v2");
  });

  it("a failed update: only the new version is stopped, the old one serves throughout, the command fails with the reason (exit 1)", async () => {
    const before = await serving();
    let result: Awaited<ReturnType<typeof up>> | undefined;
    await underLoad(async () => {
      result = await up(refs.bad, "--health-deadline", "15");
    });
    assert.equal(result?.exitCode, 1, result?.stderr);
    assert.match(result?.stderr ?? "", /compose: up .*:bad@sha256:[a-f0-9]{64}: it did not turn healthy: (not reached within 15 s|health check failing \(deliberately unhealthy\)).*; it was stopped alone: v2 \(sha256:[a-f0-9]{12}…\) served throughout and still does; next: /);
    assert.deepEqual(await serving(), before, "the same v2 container, never stopped or restarted");
    await assertConverged("v2");
  });

  it("a rollback to the earlier version (from the local image store) is an in-place update too", async () => {
    let result: Awaited<ReturnType<typeof up>> | undefined;
    await underLoad(async () => {
      result = await up(refs.v1);
    });
    assert.equal(result?.exitCode, 0, result?.stderr);
    assert.doesNotMatch(result?.stderr ?? "", /docker pull/, "the rollback target is local");
    await assertConverged("v1");
  });

  it("kill -9 of the runner while the new version starts, as the old one closes, and as it stops: the re-run converges; no request fails", async () => {
    const points: [RegExp, "v1" | "v2"][] = [
      [/^wait +healthy:/, "v2"],
      [/^run +docker kill --signal SIGUSR2/, "v1"],
      [/^run +docker stop /, "v2"],
    ];
    await underLoad(async () => {
      for (const [point, tag] of points) {
        const child = spawn(process.execPath, cliArgs(refs[tag]), { env, stdio: ["ignore", "ignore", "pipe"] });
        let seen = "";
        const killed = await new Promise<boolean>((resolve) => {
          child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
            seen += chunk;
            if (seen.split("\n").some((line) => point.test(line)) && child.exitCode === null) resolve(child.kill("SIGKILL"));
          });
          child.once("exit", () => resolve(false));
        });
        assert.ok(killed, `the runner ended before ${point}:\n${seen}`);
        const again = await up(refs[tag]);
        assert.equal(again.exitCode, 0, `re-run after a kill at ${point}:\n${again.stderr}`);
        await assertConverged(tag);
      }
    });
  });

  it("a replace of the running version (supervise's restart, a rotated database secret): a new container beside the old one, created from the rewritten env_file, takes over after its gate; 0 failed requests under 2 clients", async () => {
    const before = await serving();
    const tag = state().current.image.tag as "v1" | "v2";
    fs.writeFileSync(envFile, "REPLACE_MARK=after\n");
    const load = startUpdateLoad(`http://127.0.0.1:${port}`, 2, { uploads: false });
    const result = await execa(process.execPath, [path.join(REPO_ROOT, "compose/cli.ts"), "replace", "--state-dir", stateDir], { reject: false, env });
    const report = await load.stop();
    assert.equal(result.exitCode, 0, result.stderr);
    const failed = failedAnswers(report.answers);
    // counts, not deepEqual on the array (see underLoad)
    assert.ok(report.answers.length > 0, "the clients got answers");
    assert.equal(failed.length, 0, `${failed.length} of ${report.answers.length} requests failed, the first: ${JSON.stringify(failed.slice(0, 10))}`);
    const steps = result.stderr.split("\n").filter((line) => /^(run|wait) /.test(line)).map((line) => (/--scale app=2/.test(line) ? "start beside" : /^wait/.test(line) ? "gate" : /kill --signal SIGUSR2/.test(line) ? "close old" : /^run +docker (stop|rm) /.test(line) ? line.split(/ +/)[2] : "other"));
    assert.deepEqual(steps.filter((step) => step !== "other"), ["start beside", "gate", "close old", "stop", "rm"]);
    const after = await serving();
    assert.notEqual(after.split(" ")[0], before.split(" ")[0], "a new container serves");
    assert.match(await docker(["inspect", "--format", "{{json .Config.Env}}", after.split(" ")[0] ?? ""]), /"REPLACE_MARK=after"/, "created from the env_file as rewritten");
    await assertConverged(tag);
    // the same replace again (as after a kill): it started its container already, so nothing more
    const since = /asked for at (\S+)/.exec(result.stderr)?.[1] ?? "";
    const again = await execa(process.execPath, [path.join(REPO_ROOT, "compose/cli.ts"), "replace", "--state-dir", stateDir, "--since", since], { reject: false, env });
    assert.equal(again.exitCode, 0, again.stderr);
    assert.equal((JSON.parse(again.stdout) as { replaced: boolean }).replaced, false, again.stderr);
    assert.equal(await serving(), after);
  });

  it("a replace asked for with the version a deploy has since replaced (supervise's restart that waited for the host lock while `bootstrap --image NEW` ran) is refused: it would bring the old version back while the state records the new one", async () => {
    const before = await serving();
    const recorded = (JSON.parse(fs.readFileSync(path.join(stateDir, "state.json"), "utf8")) as { current: StackModel }).current;
    const other = recorded.image.tag === "v1" ? "v2" : "v1";
    const replaced: StackModel = { ...recorded, image: { ...recorded.image, tag: other, digest: refs[other].slice(refs[other].indexOf("@") + 1) } };
    const runner = createRunner({ stateDir, lockDir });
    await assert.rejects(runner.replace(replaced, "restart: the health check kept failing"), /replace .* \(restart: the health check kept failing\): the state directory records v[12] \(sha256:[a-f0-9]{12}…\) now, not this version: a deploy finished since/);
    assert.equal(await serving(), before, "the recorded version's container serves on, untouched");
    await assertConverged(recorded.image.tag as "v1" | "v2");
  });
});

// The launcher's steps after the OS packages, run for real: pull by digest from the local registry, copy out, start the agent with Node 24.
//
// Stood in for, because this machine is Debian, not Amazon Linux 2023: `rpm` (answers "installed" for docker,
// amazon-efs-utils and nodejs24), `dnf` (records a call and fails: it must not be reached when all is installed) and
// `systemctl` (records `enable --now docker`; the Docker Engine here already runs). `node-24` is the host's Node.js 24.
// Everything else is real: the application image built from the Dockerfile (whose build stage writes the agent bundle
// with bootstrap/bundle.ts), the Docker Engine, the tests' registry (127.0.0.1:5050), `docker pull/create/cp`, the agent run
// from that bundle (local mode: a directory stands in for EFS) bringing the image up, the supervisor started with the
// exact command line of the user data's unit, the AWS CLI (signalling a loopback endpoint that records the call, since
// moto does not implement SignalResource) and IMDSv2 (a loopback server).
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { AddressInfo } from "node:net";
import { execa } from "execa";
import { parse } from "yaml";
import { AGENT_BUNDLE, AGENT_CONFIG_PATH, LAUNCHER_SOURCE, NODE_BINARY, userData } from "../../bootstrap/user-data/cloud-config.ts";
import { EXAMPLE_VALUES } from "../../bootstrap/user-data/values.ts";
import { buildAppImage, docker, dockerUnavailable, freePort, gate, push, REGISTRY } from "../compose/docker-harness.ts";
import { startImds } from "../bootstrap/loopback.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const INSTANCE_ID = "i-0launcher0test0001";
const reason = await dockerUnavailable({ registry: true });
const { skip, mustFail } = gate(reason);

const work = fs.mkdtempSync(path.join(os.tmpdir(), "launcher-"));
const repository = `${REGISTRY}/codedetect-launcher-test`;
const tag = `t${process.pid}`;
let pinned = "";
let bundle = "";
let imds: { url: string; stop: () => void } | null = null;
const signals: string[] = [];
let cfn: http.Server | null = null;
let cfnUrl = "";

function composePlugin(): string {
  for (const candidate of ["/usr/local/lib/docker/cli-plugins/docker-compose", "/usr/libexec/docker/cli-plugins/docker-compose", "/usr/lib/docker/cli-plugins/docker-compose"]) if (fs.existsSync(candidate)) return candidate;
  throw new Error("no Compose v2 plugin found on this host");
}

const PROJECT = `cdlauncher${process.pid}`;

before(async () => {
  if (skip || mustFail) return;
  // The real image: its build stage bundles the agent (node bootstrap/bundle.ts) and carries the Compose plugin.
  await buildAppImage(`codedetect-launcher-test:${tag}`, "launcher-test");
  pinned = `${repository}@${(await push(`codedetect-launcher-test:${tag}`, `${repository}:${tag}`)).split("@")[1]}`;
  // What the image carries, to compare with what the launcher installs.
  bundle = path.join(work, "agent-from-image.mjs");
  const container = (await docker(["create", `codedetect-launcher-test:${tag}`])).trim();
  await docker(["cp", `${container}:/opt/codedetect/agent.mjs`, bundle]).finally(() => docker(["rm", container]));
  await docker(["image", "rm", `codedetect-launcher-test:${tag}`]);
  // No name in the engine carries the digest, so the launcher's pull really goes to the registry.
  await assert.rejects(docker(["image", "inspect", pinned]), /No such image/);
  imds = await startImds({ instanceId: INSTANCE_ID, zone: "eu-west-1a", region: "eu-west-1" });
  cfn = http.createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      signals.push(decodeURIComponent(body.replaceAll("+", " ")));
      response.writeHead(200, { "content-type": "text/xml" }).end('<SignalResourceResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/"><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></SignalResourceResponse>');
    });
  });
  await new Promise<void>((resolve) => cfn!.listen(0, "127.0.0.1", resolve));
  cfnUrl = `http://127.0.0.1:${(cfn.address() as AddressInfo).port}`;
});

after(async () => {
  const left = (await docker(["ps", "-aq", "--filter", `label=com.docker.compose.project=${PROJECT}`]).catch(() => "")).split("\n").filter(Boolean);
  if (left.length) await docker(["rm", "--force", ...left]).catch(() => undefined);
  imds?.stop();
  cfn?.close();
  if (pinned) await docker(["image", "rm", "--force", pinned]).catch(() => undefined);
  fs.rmSync(work, { recursive: true, force: true });
});

/** A fresh "instance": stand-in package tools, a state and shared directory for the agent (local mode), install directories. */
async function instance(name: string) {
  const root = path.join(work, name);
  const bin = path.join(root, "bin");
  fs.mkdirSync(bin, { recursive: true });
  const calls = path.join(root, "calls.log");
  fs.writeFileSync(path.join(bin, "rpm"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  fs.writeFileSync(path.join(bin, "dnf"), `#!/bin/sh\necho "dnf $*" >> '${calls}'\nexit 1\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(bin, "systemctl"), `#!/bin/sh\necho "systemctl $*" >> '${calls}'\nexit 0\n`, { mode: 0o755 });
  fs.symlinkSync(process.execPath, path.join(bin, "node-24"));
  const config = path.join(root, "bootstrap.json");
  const port = await freePort();
  // the image as the user data gives it: pinned by digest alone, exactly as `docker inspect` prints it (no tag)
  fs.writeFileSync(config, JSON.stringify({ mode: "local", image: pinned, project: PROJECT, port, stateDir: path.join(root, "state"), sharedDir: path.join(root, "shared"), verifyWaitSeconds: 120 }));
  const run = (image: string) =>
    execa("sh", [LAUNCHER_SOURCE], {
      reject: false,
      timeout: 300_000,
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        HOME: root,
        TMPDIR: root,
        CODEDETECT_LAUNCHER_IMAGE: image,
        CODEDETECT_LAUNCHER_REGION: "eu-west-1",
        CODEDETECT_LAUNCHER_STACK: "codedetect-test",
        CODEDETECT_LAUNCHER_LOGICAL_ID: "AutoScalingGroup",
        CODEDETECT_LAUNCHER_CONFIG_FILE: config,
        CODEDETECT_LAUNCHER_INSTALL_DIR: path.join(root, "opt"),
        CODEDETECT_LAUNCHER_PLUGIN_DIR: path.join(root, "plugins"),
        CODEDETECT_LAUNCHER_IMDS: imds!.url,
        AWS_ENDPOINT_URL: cfnUrl,
        AWS_ACCESS_KEY_ID: "test",
        AWS_SECRET_ACCESS_KEY: "test",
        AWS_CONFIG_FILE: "/dev/null",
        AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
      },
    });
  return { root, bin, config, port, calls, run };
}

/** The supervisor unit's ExecStart as the user data writes it, its instance paths mapped into this test's "instance". */
function superviseCommandFor(box: { bin: string; root: string; config: string }): string[] {
  const unit = parse(userData(EXAMPLE_VALUES).text).write_files.find((f: { path: string }) => f.path === "/etc/systemd/system/codedetect-supervisor.service").content as string;
  const execStart = /^ExecStart=(.+)$/m.exec(unit)![1]!.split(" ");
  const mapped: Record<string, string> = { [NODE_BINARY]: path.join(box.bin, "node-24"), [AGENT_BUNDLE]: path.join(box.root, "opt/agent.mjs"), [AGENT_CONFIG_PATH]: box.config };
  return execStart.map((word) => mapped[word] ?? word);
}

test("the launcher pulls an image given by digest alone (repository@sha256:…, no tag), copies the agent and the Compose plugin out of that image, the agent brings the image up, and the supervisor unit's command watches it and takes it down on SIGTERM", { skip, timeout: 900_000 }, async (t) => {
  if (mustFail) assert.fail(`CI=true but ${reason}`);
  const box = await instance("good");
  // exactly what `docker inspect --format '{{index .RepoDigests 0}}'` prints: the agent and the Compose runner take it as it is
  const result = await box.run(pinned);
  assert.equal(result.exitCode, 0, `${result.stderr}\n${result.stdout}`);
  assert.deepEqual(fs.readFileSync(path.join(box.root, "opt/agent.mjs")), fs.readFileSync(bundle), "the agent is the image's, byte for byte");
  assert.equal(fs.readFileSync(path.join(box.root, "opt/agent.source"), "utf8"), `${pinned}\n`);
  const plugin = await execa(path.join(box.root, "plugins/docker-compose"), ["version", "--short"], { reject: false });
  assert.equal(plugin.exitCode, 0);
  assert.match(String(plugin.stdout), /^\d+\.\d+/);
  const journal = JSON.parse(fs.readFileSync(path.join(box.root, "state/journal.json"), "utf8"));
  for (const step of ["layout", "start", "verify"]) assert.ok(JSON.stringify(journal).includes(`"${step}"`), `the agent ran ${step}`);
  // The boot-time figures cloudformation/README.md quotes (reported, not asserted): the launcher's steps, the agent's.
  const launcherSteps = [...String(result.stderr).matchAll(/codedetect-launcher: (\S+).*\ncodedetect-launcher: done in (\d+) s/g)].map((m) => `${m[1]} ${m[2]} s`);
  const agentSteps = Object.entries(journal.steps as Record<string, { durationMs: number }>).map(([step, entry]) => `${step} ${(entry.durationMs / 1000).toFixed(1)} s`);
  t.diagnostic(`launcher: ${launcherSteps.join(", ")}; agent: ${agentSteps.join(", ")}`);
  assert.ok(fs.statSync(path.join(box.root, "shared/codedetect/database")).isDirectory(), "the agent laid out the shared tree");
  const health = await fetch(`http://127.0.0.1:${box.port}/api/health`);
  assert.equal(health.status, 200, "the image the launcher pulled serves");
  const info = (await (await fetch(`http://127.0.0.1:${box.port}/api/info`)).json()) as { deployment: { image_digest: string } };
  assert.equal(info.deployment.image_digest, pinned.split("@")[1], "the digest given is what runs");
  assert.equal(fs.readFileSync(box.calls, "utf8"), "systemctl enable --now docker\n", "no dnf: every package was installed");
  assert.deepEqual(signals, [], "no signal on success (the agent signals once the instance is healthy)");
  assert.match(String(result.stderr), /codedetect-launcher: pull .*@sha256:/);
  assert.equal(fs.readdirSync(box.root).filter((n) => n.startsWith("codedetect-launcher.")).length, 0, "its work directory removed");

  // The supervisor, exactly as its unit runs it: the bundle must offer that command line (a missing file or an
  // unknown command exits at once, non-zero), watch the stack, and on SIGTERM take it down and exit 0.
  const command = superviseCommandFor(box);
  const supervisor = execa(command[0]!, command.slice(1), { reject: false, cwd: box.root, env: { PATH: process.env.PATH, HOME: box.root } });
  let output = "";
  let ended = false;
  supervisor.stdout!.on("data", (chunk: Buffer) => (output += chunk));
  void supervisor.then(() => (ended = true));
  while (!output.includes("\n")) {
    assert.equal(ended, false, `the supervisor exited at once: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const first = JSON.parse(output.split("\n")[0]!);
  assert.ok(typeof first.msg === "string", `JSON lines for journald: ${output}`);
  supervisor.kill("SIGTERM");
  const stopped = await supervisor;
  assert.equal(stopped.exitCode, 0, `${stopped.stderr}\n${output}`);
  const left = await docker(["ps", "-q", "--filter", `label=com.docker.compose.project=${PROJECT}`]);
  assert.equal(left.trim(), "", "the supervisor took the stack down on SIGTERM");
});

test("a launcher that cannot pull the image signals FAILURE for this instance and exits non-zero", { skip, timeout: 300_000 }, async () => {
  if (mustFail) assert.fail(`CI=true but ${reason}`);
  const box = await instance("absent");
  signals.length = 0;
  const result = await box.run(`${repository}:${tag}@sha256:${"0".repeat(64)}`);
  assert.notEqual(result.exitCode, 0);
  assert.match(String(result.stderr), /codedetect-launcher: failed \(exit \d+\)/);
  assert.equal(signals.length, 1, String(result.stderr));
  for (const field of ["Action=SignalResource", "StackName=codedetect-test", "LogicalResourceId=AutoScalingGroup", `UniqueId=${INSTANCE_ID}`, "Status=FAILURE"]) assert.ok(signals[0]!.includes(field), `${field} in ${signals[0]}`);
  assert.ok(!fs.existsSync(path.join(box.root, "opt/agent.mjs")), "nothing installed");
});

test("an image reference without a digest is refused before anything runs, and signalled", { skip, timeout: 120_000 }, async () => {
  if (mustFail) assert.fail(`CI=true but ${reason}`);
  const box = await instance("tag-only");
  signals.length = 0;
  const result = await box.run(`${repository}:latest`);
  assert.equal(result.exitCode, 2);
  assert.match(String(result.stderr), /CODEDETECT_LAUNCHER_IMAGE must be repository\[:tag\]@sha256:<digest>, got .*:latest/);
  assert.ok(!fs.existsSync(box.calls), "no package tool touched");
  assert.equal(signals.length, 1);
});

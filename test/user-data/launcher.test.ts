// The launcher's steps after the OS packages, run for real: pull by digest from the local registry, copy out, start the agent with Node 24.
//
// Stood in for, because this machine is Debian, not Amazon Linux 2023: `rpm` (answers "installed" for docker,
// amazon-efs-utils and nodejs24), `dnf` (records a call and fails: it must not be reached when all is installed) and
// `systemctl` (records `enable --now docker`; the Docker Engine here already runs). `node-24` is the host's Node.js 24.
// Everything else is real: the Docker Engine, the registry on 127.0.0.1:5000, `docker pull/create/cp`, the agent
// bundle (esbuild of bootstrap/cli.ts, as the image will carry it), the AWS CLI (signalling a loopback endpoint that
// records the call, since moto does not implement SignalResource) and IMDSv2 (a loopback server).
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import type { AddressInfo } from "node:net";
import * as esbuild from "esbuild";
import { execa } from "execa";
import { LAUNCHER_SOURCE } from "../../bootstrap/user-data/cloud-config.ts";
import { docker, dockerUnavailable, gate, REGISTRY } from "../compose/docker-harness.ts";
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

before(async () => {
  if (skip || mustFail) return;
  const context = path.join(work, "image");
  fs.mkdirSync(context);
  bundle = path.join(context, "agent.mjs");
  await esbuild.build({
    entryPoints: [path.join(ROOT, "bootstrap/cli.ts")], bundle: true, platform: "node", target: "node24", format: "esm", outfile: bundle, logLevel: "silent",
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
  fs.copyFileSync(composePlugin(), path.join(context, "docker-compose"));
  fs.writeFileSync(path.join(context, "Dockerfile"), "FROM scratch\nCOPY agent.mjs docker-compose /opt/codedetect/\n");
  await docker(["build", "--quiet", "-t", `${repository}:${tag}`, context]);
  await docker(["push", "--quiet", `${repository}:${tag}`]);
  const digests = (await docker(["image", "inspect", "--format", "{{range .RepoDigests}}{{println .}}{{end}}", `${repository}:${tag}`])).split("\n");
  pinned = digests.find((d) => d.startsWith(`${repository}@sha256:`))!;
  // Gone from the engine, so the launcher's pull really fetches from the registry.
  await docker(["image", "rm", `${repository}:${tag}`]);
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
  imds?.stop();
  cfn?.close();
  if (pinned) await docker(["image", "rm", "--force", pinned]).catch(() => undefined);
  fs.rmSync(work, { recursive: true, force: true });
});

/** A fresh "instance": stand-in package tools, a state and shared directory for the agent (local mode), install directories. */
function instance(name: string) {
  const root = path.join(work, name);
  const bin = path.join(root, "bin");
  fs.mkdirSync(bin, { recursive: true });
  const calls = path.join(root, "calls.log");
  fs.writeFileSync(path.join(bin, "rpm"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  fs.writeFileSync(path.join(bin, "dnf"), `#!/bin/sh\necho "dnf $*" >> '${calls}'\nexit 1\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(bin, "systemctl"), `#!/bin/sh\necho "systemctl $*" >> '${calls}'\nexit 0\n`, { mode: 0o755 });
  fs.symlinkSync(process.execPath, path.join(bin, "node-24"));
  const config = path.join(root, "bootstrap.json");
  fs.writeFileSync(config, JSON.stringify({ mode: "local", stateDir: path.join(root, "state"), sharedDir: path.join(root, "shared") }));
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
  return { root, calls, run };
}

test("the launcher pulls by digest, copies the agent and the Compose plugin out of that image, and the agent brings the instance up", { skip, timeout: 600_000 }, async () => {
  if (mustFail) assert.fail(`CI=true but ${reason}`);
  const box = instance("good");
  const result = await box.run(`${repository}:${tag}@${pinned.split("@")[1]}`);
  assert.equal(result.exitCode, 0, String(result.stderr));
  assert.deepEqual(fs.readFileSync(path.join(box.root, "opt/agent.mjs")), fs.readFileSync(bundle), "the agent is the image's, byte for byte");
  assert.equal(fs.readFileSync(path.join(box.root, "opt/agent.source"), "utf8"), `${pinned}\n`);
  const plugin = await execa(path.join(box.root, "plugins/docker-compose"), ["version", "--short"], { reject: false });
  assert.equal(plugin.exitCode, 0);
  assert.match(String(plugin.stdout), /^\d+\.\d+/);
  const journal = JSON.parse(fs.readFileSync(path.join(box.root, "state/journal.json"), "utf8"));
  assert.ok(JSON.stringify(journal).includes("layout"), "the agent ran its steps");
  assert.ok(fs.statSync(path.join(box.root, "shared/codedetect/database")).isDirectory(), "the agent laid out the shared tree");
  assert.equal(fs.readFileSync(box.calls, "utf8"), "systemctl enable --now docker\n", "no dnf: every package was installed");
  assert.deepEqual(signals, [], "no signal on success (the agent signals once the instance is healthy)");
  assert.match(String(result.stderr), /codedetect-launcher: pull .*@sha256:/);
  assert.equal(fs.readdirSync(box.root).filter((n) => n.startsWith("codedetect-launcher.")).length, 0, "its work directory removed");
});

test("a launcher that cannot pull the image signals FAILURE for this instance and exits non-zero", { skip, timeout: 300_000 }, async () => {
  if (mustFail) assert.fail(`CI=true but ${reason}`);
  const box = instance("absent");
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
  const box = instance("tag-only");
  signals.length = 0;
  const result = await box.run(`${repository}:latest`);
  assert.equal(result.exitCode, 2);
  assert.match(String(result.stderr), /CODEDETECT_LAUNCHER_IMAGE must be repository:tag@sha256:<digest>, got .*:latest/);
  assert.ok(!fs.existsSync(box.calls), "no package tool touched");
  assert.equal(signals.length, 1);
});

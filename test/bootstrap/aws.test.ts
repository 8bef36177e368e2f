// The agent on "EC2": IMDSv2 from a loopback server, EFS and EC2 from moto server, the real mountinfo check.
// This kernel has no NFS client, so `mount` itself is replaced by a stand-in on PATH; the test says what each stand-in does.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { EC2Client, CreateSubnetCommand, CreateVpcCommand, DescribeImagesCommand, RunInstancesCommand } from "@aws-sdk/client-ec2";
import { CreateFileSystemCommand, CreateMountTargetCommand, EFSClient } from "@aws-sdk/client-efs";
import { createAwsAdapter } from "../../bootstrap/adapters/aws.ts";
import * as esbuild from "esbuild";
import { CLI, runAgent, tempDir } from "./helpers.ts";
import { motoUnavailable, startImds, startMoto } from "./loopback.ts";

const REGION = "eu-west-1";
const CREDENTIALS = { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_EC2_METADATA_DISABLED: "true" };
const unavailable = motoUnavailable();
const mustFail = unavailable !== null && process.env.CI === "true";

describe("the agent against moto and a loopback IMDS", { skip: unavailable !== null && !mustFail ? `moto suite skipped: ${unavailable}` : false }, () => {
  let moto: Awaited<ReturnType<typeof startMoto>>;
  let fileSystemId = "";
  let instanceId = "";
  const stops: (() => void)[] = [];

  before(async () => {
    if (mustFail) throw new Error(`moto is required under CI: ${unavailable}`);
    Object.assign(process.env, CREDENTIALS);
    moto = await startMoto();
    stops.push(moto.stop);
    const client = { region: REGION, endpoint: moto.url, credentials: { accessKeyId: "test", secretAccessKey: "test" } };
    const ec2 = new EC2Client(client);
    const efs = new EFSClient(client);
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "10.0.0.0/16" }));
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId, CidrBlock: "10.0.1.0/24", AvailabilityZone: `${REGION}b` }));
    const image = (await ec2.send(new DescribeImagesCommand({}))).Images![0]!.ImageId;
    const run = await ec2.send(
      new RunInstancesCommand({
        ImageId: image,
        MinCount: 1,
        MaxCount: 1,
        SubnetId: subnet.Subnet!.SubnetId,
        TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "codedetect:port", Value: "5123" }, { Key: "Name", Value: "web" }] }],
      }),
    );
    instanceId = run.Instances![0]!.InstanceId!;
    fileSystemId = (await efs.send(new CreateFileSystemCommand({ CreationToken: "codedetect-test" }))).FileSystemId!;
    await efs.send(new CreateMountTargetCommand({ FileSystemId: fileSystemId, SubnetId: subnet.Subnet!.SubnetId }));
  });
  after(() => stops.forEach((stop) => stop()));

  it("the adapter reads this zone's mount target and the instance's tags", async () => {
    const aws = createAwsAdapter({ region: REGION, endpoint: moto.url });
    const targets = await aws.mountTargets(fileSystemId);
    assert.deepEqual(targets.map(({ zone, state, ipAddress }) => ({ zone, state, ipAddress })), [{ zone: `${REGION}b`, state: "available", ipAddress: "10.0.1.5" }]);
    assert.deepEqual(await aws.instanceTags(instanceId), { "codedetect:port": "5123", Name: "web" });
  });

  // amazon-efs-utils stands in as an (unused) mount.efs in a directory the agent is told to look in (BOOTSTRAP_TEST_MOUNT_HELPER_DIR).
  async function instance(zone: string, mountStandIn: string, options: { efsUtils?: boolean } = {}) {
    const imds = await startImds({ instanceId, zone, region: REGION });
    stops.push(imds.stop);
    const root = tempDir("aws-agent");
    const bin = path.join(root, "bin");
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, "mount"), `#!/bin/sh\necho "$@" >> ${path.join(root, "mount-calls")}\n${mountStandIn}\n`, { mode: 0o755 });
    const helpers = path.join(root, "sbin");
    fs.mkdirSync(helpers);
    if (options.efsUtils !== false) fs.writeFileSync(path.join(helpers, "mount.efs"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
    const mountPoint = path.join(root, "mnt", "efs");
    fs.writeFileSync(path.join(root, "fstab"), "UUID=abc / ext4 defaults 0 1\n");
    const config = { fileSystemId, stateDir: path.join(root, "state"), sharedDir: mountPoint, fstab: path.join(root, "fstab"), migrateFrom: null, awsEndpoint: moto.url, imdsEndpoint: imds.url };
    fs.writeFileSync(path.join(root, "bootstrap.json"), JSON.stringify(config));
    const env = { ...CREDENTIALS, PATH: `${bin}:${process.env.PATH}`, BOOTSTRAP_TEST_MOUNT_HELPER_DIR: helpers };
    return { root, mountPoint, env, run: (extra: string[] = []) => runAgent(["--config", path.join(root, "bootstrap.json"), ...extra], env) };
  }

  it("a mount that reports success but leaves a plain directory is refused; fstab keeps one line across re-runs", async () => {
    // Stand-in: `mount` exits 0 and mounts nothing (what a broken helper could do); the agent must not carry on.
    const agent = await instance(`${REGION}b`, "exit 0");
    for (let run = 0; run < 2; run += 1) {
      const result = await agent.run();
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, new RegExp(`^bootstrap: step mount: wait mounted:${agent.mountPoint}: ${agent.mountPoint} is a plain directory, not a mount point; next: the mount command succeeded but .* is not a mount of ${fileSystemId}.*\\n$`));
      const lines = fs.readFileSync(path.join(agent.root, "fstab"), "utf8").split("\n").filter((line) => line.includes(agent.mountPoint));
      assert.deepEqual(lines, [`${fileSystemId}:/ ${agent.mountPoint} efs _netdev,tls,noresvport 0 0`]);
      assert.deepEqual(fs.readdirSync(agent.mountPoint), [], "nothing laid out in the plain directory");
    }
    const status = JSON.parse((await agent.run(["status", "--json"])).stdout);
    assert.deepEqual(status.identity, { instanceId, zone: `${REGION}b`, region: REGION, source: "imds", tags: { "codedetect:port": "5123" } });
    assert.deepEqual(status.config.find((row: { key: string }) => row.key === "port"), { key: "port", value: 5123, source: "tag" });
    assert.equal(status.steps.identify.outcome, "unchanged", "the second run found the identity recorded");
    assert.equal(status.steps.mount.outcome, "failed");
    assert.match(status.steps.mount.error.next, /is not a mount of/);
  });

  it("killed at random moments around the fstab write and the mount, re-runs keep exactly one fstab line", async () => {
    // Stand-in: `mount` takes a while and mounts nothing, so the kills land before, during and after it.
    const agent = await instance(`${REGION}b`, "sleep 1; exit 0");
    for (const delay of [300, 700, 1100, 1500, 1900, 2600]) {
      await runAgent(["--config", path.join(agent.root, "bootstrap.json")], agent.env, { killAfterMs: delay });
      const lines = fs.readFileSync(path.join(agent.root, "fstab"), "utf8").split("\n").filter((line) => line.includes(agent.mountPoint));
      assert.ok(lines.length <= 1, `after a kill at ${delay} ms: ${lines.length} lines`);
    }
    const result = await agent.run();
    assert.equal(result.code, 1, "still refuses the plain directory");
    const fstab = fs.readFileSync(path.join(agent.root, "fstab"), "utf8");
    assert.equal(fstab.split("\n").filter((line) => line.includes(agent.mountPoint)).length, 1);
    assert.ok(fstab.startsWith("UUID=abc / ext4 defaults 0 1\n"), "the other lines kept");
  });

  it("bundled into one file run far from node_modules (as on a host), the agent still reads IMDS, tags and EFS", async () => {
    const agent = await instance(`${REGION}b`, "exit 0");
    const bundle = path.join(tempDir("bundle"), "agent.mjs");
    await esbuild.build({
      entryPoints: [CLI],
      bundle: true,
      platform: "node",
      target: "node24",
      format: "esm",
      outfile: bundle,
      logLevel: "silent",
      banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    });
    const result = await runAgent(["--config", path.join(agent.root, "bootstrap.json")], { ...agent.env, NODE_PATH: "" }, { script: bundle, cwd: path.dirname(bundle) });
    assert.equal(result.code, 1, "refuses the plain directory, as the unbundled agent does");
    assert.match(result.stderr, /^bootstrap: step mount: wait mounted:.* is a plain directory, not a mount point/);
    assert.match(fs.readFileSync(path.join(agent.root, "state", "identity.json"), "utf8"), new RegExp(`"instanceId":"${instanceId}"`));
  });

  it("another file system mounted in its place is refused, naming it", { skip: process.getuid?.() !== 0 ? "needs root for mount --bind" : false }, async () => {
    const agent = await instance(`${REGION}b`, "exit 0");
    const elsewhere = tempDir("not-efs");
    fs.mkdirSync(agent.mountPoint, { recursive: true });
    assert.equal(spawnSync("mount", ["--bind", elsewhere, agent.mountPoint]).status, 0);
    try {
      const result = await agent.run();
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`step mount: mount ${fileSystemId} on ${agent.mountPoint}: ${agent.mountPoint} is already a mount of .*, not ${fileSystemId}; next: unmount it`));
    } finally {
      spawnSync("umount", [agent.mountPoint]);
    }
  });

  it("no mount target in this instance's zone: fails at once, naming the zone", async () => {
    const agent = await instance(`${REGION}c`, "exit 0");
    const result = await agent.run();
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`^bootstrap: step mount: find the mount target of ${fileSystemId} in ${REGION}c: the file system has no mount target in ${REGION}c; next: add a mount target`));
  });

  it("the mount command failing every time: retried, then the step fails with the real cause (the network) and what to check", async () => {
    // Stand-in: `mount` fails the way mount.nfs4 does when the security group blocks NFS.
    const agent = await instance(`${REGION}b`, "echo 'mount.nfs4: Connection timed out' >&2; exit 32");
    const result = await agent.run();
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`step mount: mount fs-\\w+ on .* failed \\(3 attempts over .* s\\): the mount target of fs-\\w+ in ${REGION}b does not answer on NFS \\(TCP 2049\\): .* \\(mount said: mount.nfs4: Connection timed out\\); next: check that the file system's security group allows 2049`));
  });

  it("refused by the file system policy: one attempt, and the cause is the policy, not the security group", async () => {
    const agent = await instance(`${REGION}b`, "echo 'mount.nfs4: access denied by server while mounting 127.0.0.1:/' >&2; exit 32");
    const result = await agent.run();
    assert.equal(result.code, 1);
    assert.match(result.stderr, /failed \(1 attempt over .* s\): EFS refused the mount of fs-\w+: its file system policy denies this client/);
    assert.doesNotMatch(result.stderr, /security group/);
  });

  it("without amazon-efs-utils: refused before anything changes, naming the package (was: a plain NFS mount the TLS-only policy refuses)", async () => {
    const agent = await instance(`${REGION}b`, "exit 0", { efsUtils: false });
    const fstabBefore = fs.readFileSync(path.join(agent.root, "fstab"), "utf8");
    const result = await agent.run();
    assert.equal(result.code, 1);
    assert.match(result.stderr, new RegExp(`^bootstrap: step mount: mount ${fileSystemId} on ${agent.mountPoint}: amazon-efs-utils is not installed \\(no mount\\.efs where mount looks for it\\): .*; next: dnf install -y amazon-efs-utils`));
    assert.equal(fs.readFileSync(path.join(agent.root, "fstab"), "utf8"), fstabBefore, "fstab untouched");
    assert.equal(fs.existsSync(agent.mountPoint), false, "no mount point made");
    assert.equal(fs.existsSync(path.join(agent.root, "mount-calls")), false, "mount never run");
  });
});

// The mount step's machine side on this host: the real mountinfo check against a bind mount, and the mount retried until it works.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { checkMount, observeMount, parseMountinfo } from "../../bootstrap/adapters/mountinfo.ts";
import { createAgentExecutor } from "../../bootstrap/executor.ts";
import { resolveConfig } from "../../bootstrap/config.ts";
import { MOUNT_RETRY, planMount } from "../../bootstrap/steps/mount.ts";
import { tempDir } from "./helpers.ts";

const root = process.getuid?.() === 0;

describe("the mountinfo check", { skip: root ? false : "needs root for mount --bind" }, () => {
  it("a bind mount is seen as a mount of its source; a plain directory in its place is refused", () => {
    const source = tempDir("bind-source");
    const place = tempDir("bind-place");
    const expectSource = { fsTypes: parseMountinfo(fs.readFileSync("/proc/self/mountinfo", "utf8")).map((entry) => entry.fsType), matches: (entry: { root: string }) => entry.root.endsWith(path.basename(source)) };
    assert.deepEqual(observeMount(place, expectSource), { state: "plain", detail: `${place} is a plain directory, not a mount point` });
    assert.equal(spawnSync("mount", ["--bind", source, place]).status, 0);
    try {
      const seen = observeMount(place, expectSource);
      assert.equal(seen.state, "mounted");
      assert.equal(seen.state === "mounted" && seen.entry.mountPoint, place);
      const efs = { fsTypes: ["nfs4"], matches: () => true };
      assert.equal(observeMount(place, efs).state, "other", "a mount of something else is not the file system");
      fs.mkdirSync(path.join(place, "inside"));
      assert.equal(observeMount(path.join(place, "inside"), expectSource).state, "plain", "a directory inside a mount is not itself a mount");
    } finally {
      spawnSync("umount", [place]);
    }
    assert.equal(observeMount(place, expectSource).state, "plain", "after umount, plain again");
    assert.equal(observeMount(path.join(place, "missing"), expectSource).state, "missing");
  });

  it("mount points with spaces are unescaped; the last mount on a path is the visible one", () => {
    const text = [
      "36 25 0:32 / /mnt/my\\040efs rw,relatime shared:1 - ext4 /dev/sda1 rw",
      "37 36 0:33 / /mnt/my\\040efs rw,relatime shared:2 - nfs4 fs-0123456789abcdef0.efs.eu-west-1.amazonaws.com:/ rw,vers=4.1",
    ].join("\n");
    const seen = checkMount(text, "/mnt/my efs", true, { fsTypes: ["nfs4"], matches: (entry) => entry.source.startsWith("fs-0123456789abcdef0.") });
    assert.equal(seen.state, "mounted");
  });
});

describe("performing the mount plan", () => {
  const config = (dir: string) => resolveConfig(false, { file: { fileSystemId: "fs-0123456789abcdef0", sharedDir: path.join(dir, "efs"), fstab: path.join(dir, "fstab"), stateDir: dir } }).config;
  const spec = (dir: string) => ({ fileSystemId: "fs-0123456789abcdef0", region: "eu-west-1", mountPoint: path.join(dir, "efs") });
  const target = { mountTargetId: "fsmt-1", zone: "eu-west-1b", state: "available", ipAddress: "10.0.1.5" };

  it("a mount failing twice then succeeding: the step's own retry policy carries it through", async () => {
    const dir = tempDir("mount-retry");
    // Stand-in for mount.nfs4 (no NFS in this kernel): fails on its first two calls, succeeds on the third.
    const counter = path.join(dir, "calls");
    const standIn = path.join(dir, "mount-stand-in");
    fs.writeFileSync(standIn, `#!/bin/sh\nn=$(( $(cat ${counter} 2>/dev/null || echo 0) + 1 ))\necho $n > ${counter}\n[ $n -ge 3 ] || { echo "mount.nfs4: Connection timed out" >&2; exit 32; }\n`, { mode: 0o755 });
    const actions = planMount({ mode: "aws", spec: spec(dir), mountHelper: "/sbin/mount.efs", zone: "eu-west-1b", target, mount: { state: "missing" }, fstab: "" }, config(dir));
    const run = actions.find((action) => action.kind === "run")!;
    assert.ok(run.kind === "run");
    const lines: string[] = [];
    await createAgentExecutor({ log: (line) => lines.push(line) }).perform({ ...run, argv: [standIn, ...run.argv.slice(1)] });
    assert.equal(fs.readFileSync(counter, "utf8").trim(), "3");
    assert.equal(lines.filter((line) => /attempt \d failed \(mount.nfs4: Connection timed out\); retrying in/.test(line)).length, 2);
  });

  // The helpers' real messages (amazon-efs-utils' src/mount_efs and src/efs_utils_common, mount.nfs4 as AWS's EFS
  // troubleshooting guide quotes it), printed by a stand-in for mount with the exit status each one comes with.
  const REAL_FAILURES: [string, string, number, RegExp, RegExp, boolean][] = [
    ["policy", "mount.nfs4: access denied by server while mounting 127.0.0.1:/", 32, /EFS refused the mount of fs-0123456789abcdef0: its file system policy denies this client .*, not the network/, /describe-file-system-policy/, true],
    ["security group", "mount.nfs4: Connection timed out", 32, /does not answer on NFS \(TCP 2049\): the security groups, the subnet's network ACL or a route drop it/, /allows 2049/, false],
    ["efs-utils probe", "Connection to the mount target IP address 10.0.1.5 timeout. Please retry in 5 minutes if the mount target is newly created. Otherwise check your VPC and security group configuration to ensure your file system is reachable via TCP port 2049 from your instance.", 1, /does not answer on NFS \(TCP 2049\)/, /allows 2049/, false],
    ["no mount target", "Cannot find mount target for the file system fs-0123456789abcdef0, please create a mount target in eu-west-1b.", 1, /no available mount target of fs-0123456789abcdef0 in eu-west-1b/, /describe-mount-targets/, false],
    ["mount target not ready", "No mount target created for the file system fs-0123456789abcdef0 is in available state yet, please retry in 5 minutes.", 1, /no available mount target/, /describe-mount-targets/, false],
    ["dns", 'Failed to resolve "fs-0123456789abcdef0.efs.eu-west-1.amazonaws.com" - check that your file system ID is correct, and ensure that the VPC has an EFS mount target for this file system ID.\nSee https://docs.aws.amazon.com/console/efs/mount-dns-name for more detail.', 1, /DNS name of fs-0123456789abcdef0 does not resolve/, /enableDnsSupport/, false],
    ["no helper", "mount: /mnt/efs: unknown filesystem type 'efs'.", 32, /amazon-efs-utils is not installed/, /dnf install -y amazon-efs-utils/, true],
    ["no tunnel", "Failed to locate stunnel in /usr/sbin:/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/bin - Please install it", 1, /cannot start its TLS tunnel/, /dnf reinstall -y amazon-efs-utils/, true],
  ];

  it("each real failure is reported with its own cause and next step; a refusal is not retried, a network failure is", async () => {
    const dir = tempDir("mount-causes");
    const standIn = path.join(dir, "mount-stand-in");
    const calls = path.join(dir, "calls");
    const run = planMount({ mode: "aws", spec: spec(dir), mountHelper: "/sbin/mount.efs", zone: "eu-west-1b", target, mount: { state: "missing" }, fstab: "" }, config(dir)).find((action) => action.kind === "run")!;
    assert.ok(run.kind === "run");
    for (const [name, message, status, cause, next, refusal] of REAL_FAILURES) {
      fs.writeFileSync(path.join(dir, "message"), `${message}\n`);
      fs.writeFileSync(standIn, `#!/bin/sh\necho x >> ${calls}\ncat ${path.join(dir, "message")} >&2\nexit ${status}\n`, { mode: 0o755 });
      fs.rmSync(calls, { force: true });
      // the step's own retry policy with short delays: what is retried, not how long it waits, is the point
      const action = { ...run, argv: [standIn, ...run.argv.slice(1)], retry: { ...run.retry!, minDelayMs: 1, maxDelayMs: 2 } };
      const error = (await createAgentExecutor().perform(action).then(() => assert.fail(name), (e: Error & { cause: string; next: string }) => e));
      assert.match(error.cause, cause, name);
      assert.ok(error.cause.includes(`said: ${message.split("\n").at(-1)!.trim()}`), `${name}: the helper's own words kept: ${error.cause}`);
      assert.match(error.next, next, name);
      assert.equal(fs.readFileSync(calls, "utf8").trim().split("\n").length, refusal ? 1 : MOUNT_RETRY.attempts, `${name}: attempts`);
    }
  });

  it("the fstab write, performed twice from fresh observations, leaves one line", async () => {
    const dir = tempDir("fstab");
    fs.writeFileSync(path.join(dir, "fstab"), "UUID=1 / ext4 defaults 0 1\n");
    const executor = createAgentExecutor();
    for (let run = 0; run < 2; run += 1) {
      const fstab = fs.readFileSync(path.join(dir, "fstab"), "utf8");
      const actions = planMount({ mode: "aws", spec: spec(dir), mountHelper: "/sbin/mount.efs", zone: "eu-west-1b", target, mount: { state: "missing" }, fstab }, config(dir));
      for (const action of actions.filter((each) => each.kind === "write")) await executor.perform(action);
    }
    const lines = fs.readFileSync(path.join(dir, "fstab"), "utf8").trimEnd().split("\n");
    assert.equal(lines.length, 2);
    assert.match(lines[1]!, / efs _netdev,tls,noresvport 0 0$/);
    assert.equal(fs.statSync(path.join(dir, "fstab")).mode & 0o777, 0o644);
  });
});

// scripts/setup.sh --test installs what the user-data and CloudFormation suites need (cloud-init without its
// recommends and never enabled, shellcheck; cfn-lint, moto_server and the AWS CLI through pip when missing), and a
// second run installs nothing.
//
// Stood in for (a test may not install packages on the machine): apt-get, dpkg-query, pip, npm, docker, python3 and
// the three Python tools, each a script recording its call. The script itself, bash, and coreutils are real.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { execa } from "execa";

const ROOT = path.resolve(import.meta.dirname, "../..");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "setup-"));
after(() => fs.rmSync(work, { recursive: true, force: true }));

function sandbox() {
  const repo = path.join(work, "repo");
  const bin = path.join(work, "bin");
  const calls = path.join(work, "calls.log");
  const installed = path.join(work, "dpkg-installed");
  fs.mkdirSync(path.join(repo, "scripts"), { recursive: true });
  fs.mkdirSync(path.join(repo, ".tools/node/bin"), { recursive: true });
  fs.mkdirSync(path.join(repo, "node_modules"), { recursive: true });
  fs.mkdirSync(bin);
  fs.copyFileSync(path.join(ROOT, "scripts/setup.sh"), path.join(repo, "scripts/setup.sh"));
  fs.symlinkSync(process.execPath, path.join(repo, ".tools/node/bin/node"));
  fs.writeFileSync(path.join(repo, "package-lock.json"), "{}");
  fs.writeFileSync(path.join(repo, "node_modules/.package-lock.json"), "{}");
  fs.utimesSync(path.join(repo, "package-lock.json"), new Date(0), new Date(0));
  fs.writeFileSync(installed, "pylint\nbandit\nradon\nchromium\nhaproxy\nwrk\n");
  const stub = (name: string, body: string) => fs.writeFileSync(path.join(bin, name), `#!/bin/sh\necho "${name} $*" >> '${calls}'\n${body}\n`, { mode: 0o755 });
  stub("dpkg-query", `pkg=$(eval echo \\$$#); grep -qx "$pkg" '${installed}' && printf 'install ok installed' || exit 1`);
  stub("apt-get", `[ "$1" = install ] && for a in "$@"; do case "$a" in -*|install) ;; *) echo "$a" >> '${installed}' ;; esac; done; exit 0`);
  stub("pip", `for a in "$@"; do case "$a" in cfn-lint) n=cfn-lint ;; 'moto[server]') n=moto_server ;; awscli) n=aws ;; *) continue ;; esac; printf '#!/bin/sh\\necho "%s 1.0"\\n' "$n" > '${bin}'/$n; chmod +x '${bin}'/$n; done`);
  stub("python3", `echo "pylint 3 bandit 1 radon 6"`);
  stub("cloud-init", `echo "/usr/bin/cloud-init 22.4.2"`);
  stub("shellcheck", `echo "ShellCheck"; echo "version: 0.9.0"`);
  stub("npm", "exit 0");
  stub("docker", `case "$1" in version) echo 27.0 ;; compose) echo 2.26.1 ;; esac; exit 0`);
  const env = { PATH: `${bin}:/usr/bin:/bin`, SETUP_SYSROOT: path.join(work, "sysroot"), HOME: work };
  const run = () => execa("bash", [path.join(repo, "scripts/setup.sh"), "--test"], { reject: false, env, extendEnv: false });
  const takeCalls = () => {
    const text = fs.existsSync(calls) ? fs.readFileSync(calls, "utf8") : "";
    fs.rmSync(calls, { force: true });
    return text.split("\n").filter(Boolean);
  };
  return { run, takeCalls, sysroot: env.SETUP_SYSROOT };
}

test("setup.sh --test installs cloud-init (no recommends, never enabled) and shellcheck, and cfn-lint, moto_server and the AWS CLI when missing; a second run installs nothing", async () => {
  const box = sandbox();
  const first = await box.run();
  assert.equal(first.exitCode, 0, `${first.stdout}\n${first.stderr}`);
  const calls = box.takeCalls();
  const install = calls.find((call) => call.startsWith("apt-get install"));
  assert.ok(install, calls.join("\n"));
  assert.match(install, /--no-install-recommends/);
  assert.deepEqual(install.split(" ").filter((word) => !word.startsWith("-") && word !== "apt-get" && word !== "install").sort(), ["cloud-init", "shellcheck"]);
  assert.ok(fs.existsSync(path.join(box.sysroot, "etc/cloud/cloud-init.disabled")), "cloud-init is kept from running at boot");
  assert.ok(!calls.some((call) => /^systemctl (enable|start)/.test(call)), "no service enabled");
  assert.deepEqual(calls.filter((call) => call.startsWith("pip ")).map((call) => call.split(" ").at(-1)), ["cfn-lint", "moto[server]", "awscli"]);
  const lines = String(first.stdout).split("\n");
  for (const component of [/^setup: user-data validators: cloud-init 22\.4\.2, shellcheck 0\.9\.0$/, /^setup: cfn-lint 1\.0$/, /^setup: moto_server /, /^setup: aws CLI /]) {
    assert.equal(lines.filter((line) => component.test(line)).length, 1, `one line matching ${component} in:\n${first.stdout}`);
  }

  const second = await box.run();
  assert.equal(second.exitCode, 0, String(second.stderr));
  const again = box.takeCalls();
  assert.deepEqual(again.filter((call) => /^(apt-get|pip) /.test(call)), [], "nothing installed on the second run");
});

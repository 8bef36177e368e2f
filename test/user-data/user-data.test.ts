// The generated user data: valid for the real `cloud-init schema`, within EC2's 16,384 bytes, a shellcheck-clean launcher, an agent configuration the agent accepts.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { execa } from "execa";
import { parse } from "yaml";
import { parseInvocation } from "../../bootstrap/cli.ts";
import { ConfigSchema, defaults, envName, fileLayer, resolveConfig, type ConfigKey } from "../../bootstrap/config.ts";
import { LAUNCHER_SOURCE, USER_DATA_LIMIT_BYTES, userData, userDataForTemplate } from "../../bootstrap/user-data/cloud-config.ts";
import { EXAMPLE_VALUES, LONGEST_VALUES } from "../../bootstrap/user-data/values.ts";
import { toolMissing } from "./tools.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "user-data-"));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
};
const cloudInit = await toolMissing("cloud-init");
const shellcheck = await toolMissing("shellcheck");

test("cloud-init schema accepts the user data, with example values and with the longest values a stack can have", { skip: cloudInit }, async () => {
  for (const [name, values] of [["example", EXAMPLE_VALUES], ["longest", LONGEST_VALUES]] as const) {
    const result = await execa("cloud-init", ["schema", "-c", write(`${name}.yaml`, userData(values).text)], { reject: false });
    assert.equal(result.exitCode, 0, `${name}: ${result.stdout}${result.stderr}`);
  }
});

test("cloud-init schema does reject a broken document (so the check above means something)", { skip: cloudInit }, async () => {
  const broken = userData(EXAMPLE_VALUES).text.replace("runcmd:", "runcmd: 5\nunused:");
  const result = await execa("cloud-init", ["schema", "-c", write("broken.yaml", broken)], { reject: false });
  assert.notEqual(result.exitCode, 0);
});

test("the user data stays within 16,384 bytes even with the longest values, and a value that would overflow is refused at generation", () => {
  const worst = userDataForTemplate().worstCaseBytes;
  assert.ok(worst <= USER_DATA_LIMIT_BYTES, `${worst} bytes`);
  assert.equal(userData(LONGEST_VALUES).bytes, worst, "the template's size check renders exactly what the longest values give");
  const huge = { ...EXAMPLE_VALUES, ImageUri: `${"r".repeat(9000)}:t@sha256:${"0".repeat(64)}` };
  assert.throws(() => userData(huge), /the user data is \d+ bytes, over EC2's limit of 16384/);
});

test("the launcher is shellcheck-clean, as a file and as the user data carries it", { skip: shellcheck }, async () => {
  const carried = parse(userData(EXAMPLE_VALUES).text).write_files.find((f: any) => f.path === "/opt/codedetect/launcher.sh").content;
  assert.equal(carried, fs.readFileSync(LAUNCHER_SOURCE, "utf8"));
  const result = await execa("shellcheck", ["-s", "sh", LAUNCHER_SOURCE], { reject: false });
  assert.equal(result.exitCode, 0, result.stdout);
});

test("the configuration file the user data writes is read by the agent's own loader and resolves; nothing fetched by a moving tag, no package update", () => {
  const document = parse(userData(EXAMPLE_VALUES).text);
  const content = document.write_files.find((f: any) => f.path === "/etc/codedetect/bootstrap.json").content;
  const layer = fileLayer(write("bootstrap.json", content));
  const { config, sources } = resolveConfig(false, { file: layer });
  assert.ok(ConfigSchema.safeParse(config).success);
  // Every value the template knows reaches the agent, from the file (not left to a default).
  const template = parse(fs.readFileSync(path.join(ROOT, "cloudformation/codedetect.yaml"), "utf8"));
  const delay = template.Resources.TargetGroup.Properties.TargetGroupAttributes.find((a: any) => a.Key === "deregistration_delay.timeout_seconds").Value;
  const hooks = template.Resources.AutoScalingGroup.Properties.LifecycleHookSpecificationList;
  const hook = hooks.find((h: any) => h.LifecycleTransition === "autoscaling:EC2_INSTANCE_TERMINATING").LifecycleHookName;
  const launchHook = hooks.find((h: any) => h.LifecycleTransition === "autoscaling:EC2_INSTANCE_LAUNCHING").LifecycleHookName;
  const groupName = template.Resources.AutoScalingGroup.Properties.AutoScalingGroupName["Fn::Sub"].replace("${AWS::StackName}", EXAMPLE_VALUES.StackName);
  const expected = {
    mode: "aws",
    image: EXAMPLE_VALUES.ImageUri,
    fileSystemId: EXAMPLE_VALUES.FileSystemId,
    region: EXAMPLE_VALUES.Region,
    stackName: EXAMPLE_VALUES.StackName,
    logicalResourceId: "AutoScalingGroup",
    targetGroupArn: EXAMPLE_VALUES.TargetGroupArn,
    logGroup: EXAMPLE_VALUES.LogGroupName,
    autoScalingGroup: groupName,
    lifecycleHook: hook,
    launchHook,
    drainSeconds: Number(delay),
  };
  for (const [key, value] of Object.entries(expected)) {
    assert.deepEqual(config[key as ConfigKey], value, key);
    assert.equal(sources[key as ConfigKey], "file", `${key} from the file`);
  }
  assert.deepEqual(Object.keys(JSON.parse(content)).sort(), Object.keys(expected).sort(), "no other setting written");
  assert.ok("logicalResourceId" in expected && template.Resources[expected.logicalResourceId], "the signalled resource exists");
  assert.equal(document.package_update, false);
  assert.equal(document.package_upgrade, false);
  const text = userData(EXAMPLE_VALUES).text;
  assert.doesNotMatch(text, /:latest\b|yum update|dnf (-y )?update|releases\/latest/);
  const units = document.write_files.filter((f: any) => f.path.startsWith("/etc/systemd/system/")).map((f: any) => f.path);
  assert.deepEqual(units, ["/etc/systemd/system/codedetect-agent.service", "/etc/systemd/system/codedetect-supervisor.service"]);
  assert.match(document.write_files.find((f: any) => f.path.endsWith("agent.service")).content, /Type=oneshot/);
  const supervisor = document.write_files.find((f: any) => f.path.endsWith("supervisor.service")).content;
  assert.match(supervisor, /After=codedetect-agent.service/);
  // A failed agent run (e.g. a late instance refused its signal on the old agent) must still leave the instance supervised:
  // Wants= starts the supervisor after the agent whatever its outcome; Requires= would skip it.
  assert.match(supervisor, /^Wants=codedetect-agent.service$/m);
  assert.doesNotMatch(supervisor, /^(Requires|BindsTo|Requisite)=/m);
  assert.match(supervisor, /^Restart=always$/m);
});

test("the template's user data carries the same configuration with the stack's own expressions (the group named as the template names it)", () => {
  const { subText } = userDataForTemplate();
  const content = parse(subText).write_files.find((f: any) => f.path === "/etc/codedetect/bootstrap.json").content;
  const config = JSON.parse(content);
  assert.deepEqual(
    { logGroup: config.logGroup, autoScalingGroup: config.autoScalingGroup, targetGroupArn: config.targetGroupArn, region: config.region, stackName: config.stackName, fileSystemId: config.fileSystemId, image: config.image },
    { logGroup: "${LogGroup}", autoScalingGroup: "${AWS::StackName}-instances", targetGroupArn: "${TargetGroup}", region: "${AWS::Region}", stackName: "${AWS::StackName}", fileSystemId: "${FileSystem}", image: "${ImageUri}" },
  );
});

test("the supervisor unit runs a command the agent bundle has (supervise, with the user data's configuration, JSON for journald), and only files the launcher installs", () => {
  const document = parse(userData(EXAMPLE_VALUES).text);
  const unitText = document.write_files.find((f: any) => f.path.endsWith("supervisor.service")).content as string;
  const execStart = /^ExecStart=(.+)$/m.exec(unitText)![1]!.split(" ");
  assert.deepEqual(execStart, ["/usr/bin/node-24", "/opt/codedetect/agent.mjs", "supervise", "--config", "/etc/codedetect/bootstrap.json", "--json"]);
  // The agent's own parser takes these arguments as the supervise command.
  const invocation = parseInvocation(execStart.slice(2));
  assert.deepEqual([invocation.command, invocation.configFile, invocation.json], ["supervise", "/etc/codedetect/bootstrap.json", true]);
  assert.match(unitText, /KillMode=mixed/);
  const launcher = fs.readFileSync(LAUNCHER_SOURCE, "utf8");
  for (const file of unitText.match(/\/opt\/codedetect\/[\w.-]+/g) ?? []) {
    const base = path.basename(file);
    assert.ok(launcher.includes(`"$INSTALL_DIR/${base}"`) || document.write_files.some((f: any) => f.path === file), `${file} is neither written by the user data nor installed by the launcher`);
  }
});

test("values the agent would refuse are refused at generation, naming the field", () => {
  assert.throws(() => userData({ ...EXAMPLE_VALUES, FileSystemId: "fs-nope" }), /agent configuration: fileSystemId: must look like "fs-0123456789abcdef0"/);
  assert.throws(() => userData({ ...EXAMPLE_VALUES, Region: "Europe" }), /agent configuration: region: must look like "eu-west-1"/);
  assert.throws(() => userData({ ...EXAMPLE_VALUES, StackName: "1bad name" }), /StackName: "1bad name" is not a CloudFormation stack name/);
  assert.throws(() => userData({ ...EXAMPLE_VALUES, TargetGroupArn: "x\ny" }), /^UserDataProblem: TargetGroupArn: "x\\ny" is not a target group ARN \(arn:aws:elasticloadbalancing:<region>:<account>:targetgroup\/<name>\/<id>\)$/);
  assert.throws(() => userData({ ...EXAMPLE_VALUES, TargetGroupArn: EXAMPLE_VALUES.TargetGroupArn.replace("eu-west-1", "us-east-1") }), /TargetGroupArn: the target group is in us-east-1, not in Region eu-west-1/);
  assert.throws(() => userData({ ...EXAMPLE_VALUES, StackName: "abc\n" }), /^UserDataProblem: StackName: "abc\\n" is not a CloudFormation stack name$/);
  for (const region of ["us-gov-west-1", "eusc-de-east-1"]) {
    const values = { ...EXAMPLE_VALUES, Region: region, TargetGroupArn: EXAMPLE_VALUES.TargetGroupArn.replace("eu-west-1", region) };
    assert.match(userData(values).text, new RegExp(`"region": "${region}"`));
  }
});

test("npm run user-data prints the document and its size; a bad --config file is one line and exit 2", async () => {
  const ok = await execa("node", ["scripts/user-data.ts"], { cwd: ROOT, reject: false, stripFinalNewline: false });
  assert.equal(ok.exitCode, 0);
  assert.ok(String(ok.stdout).startsWith("#cloud-config\n"));
  assert.equal(String(ok.stderr), `user data: ${Buffer.byteLength(String(ok.stdout))} bytes of 16384 (example values; --config FILE for yours)\n`);
  const values = write("values.json", JSON.stringify({ ...EXAMPLE_VALUES, StackName: "other-stack" }));
  const mine = await execa("node", ["scripts/user-data.ts", "--config", values], { cwd: ROOT, reject: false });
  assert.equal(mine.exitCode, 0);
  assert.match(String(mine.stdout), /"stackName": "other-stack"/);
  const extra = write("extra.json", JSON.stringify({ ...EXAMPLE_VALUES, Colour: "red" }));
  const refused = await execa("node", ["scripts/user-data.ts", "--config", extra], { cwd: ROOT, reject: false });
  assert.equal(refused.exitCode, 2);
  assert.equal(String(refused.stdout), "");
  assert.match(String(refused.stderr), /^user-data: .*extra\.json: Colour: is not a stack value \(those are StackName, Region, FileSystemId, ImageUri, TargetGroupArn, LogGroupName\)$/);
  const missing = await execa("node", ["scripts/user-data.ts", "--config", path.join(dir, "absent.json")], { cwd: ROOT, reject: false });
  assert.equal(missing.exitCode, 2);
  assert.match(String(missing.stderr), /^user-data: cannot read .*absent\.json: ENOENT$/);
  const usage = await execa("node", ["scripts/user-data.ts", "--colour"], { cwd: ROOT, reject: false });
  assert.equal(usage.exitCode, 2);
  assert.equal(String(usage.stderr).split("\n").length, 1, "one line");
});

test("the launcher's environment names no agent setting, so the agent it starts still takes its image from config and tags", () => {
  const document = parse(userData(EXAMPLE_VALUES).text);
  const names = (document.write_files.find((f: any) => f.path === "/etc/codedetect/launcher.env").content as string).trim().split("\n").map((line) => line.split("=")[0]);
  const agentNames = (Object.keys(defaults(false)) as ConfigKey[]).map(envName);
  assert.ok(agentNames.includes("CODEDETECT_IMAGE"));
  assert.deepEqual(names.filter((name) => agentNames.includes(name!)), []);
  for (const name of fs.readFileSync(LAUNCHER_SOURCE, "utf8").match(/\bCODEDETECT_[A-Z_]+/g) ?? []) assert.ok(!agentNames.includes(name), `${name} in the launcher`);
  // And each variable the user data sets is one the launcher reads (a misspelt name would leave its default in force).
  const launcher = fs.readFileSync(LAUNCHER_SOURCE, "utf8");
  for (const name of names) assert.match(launcher, new RegExp(`\\$\\{${name}[:}]`), `${name} is not read by the launcher`);
});

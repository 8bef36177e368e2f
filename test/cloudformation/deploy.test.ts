// `npm run deploy` against moto server: create, a rolling image change, a failing deployment, and the one-line refusals.
// moto never marks a stack *_FAILED (a resource it cannot create fails the API call itself), so the failed-resources
// report is also checked on events shaped as CloudFormation returns them (failedResources, a pure function).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { execa } from "execa";
import { parse } from "yaml";
import { failedResources, planDeploy, parseDeployArgs, UsageProblem } from "../../scripts/aws/deploy-plan.ts";
import { motoUnavailable, startMoto } from "../bootstrap/loopback.ts";
import { awsEnv, cli, FAKE_DIGEST_ONLY_IMAGE, FAKE_IMAGE, twoZoneNetwork, type Cli, type Network } from "./aws-cli.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const unavailable = motoUnavailable();
const skip = unavailable && process.env.CI !== "true" ? `moto suite skipped: ${unavailable}` : false;
let moto: Awaited<ReturnType<typeof startMoto>> | null = null;
let aws: Cli;
let network: Network;

before(async () => {
  if (skip) return;
  moto = await startMoto();
  aws = cli(moto.url);
  network = await twoZoneNetwork(aws);
});
after(() => moto?.stop());

// Each flag once (deploy refuses a repeated one): the case's own --poll-seconds replaces the helper's.
const deploy = (...args: string[]) => execa("node", ["scripts/deploy.ts", "--region", "eu-west-1", ...(args.includes("--poll-seconds") ? [] : ["--poll-seconds", "1"]), ...(moto ? ["--endpoint", moto.url] : []), ...args], { cwd: ROOT, env: awsEnv(), reject: false, timeout: 300_000 });
const networkParameters = () => ["--parameter", "Protocol=http", "--parameter", `VpcId=${network.vpcId}`, "--parameter", `InstanceSubnetA=${network.instanceA}`, "--parameter", `InstanceSubnetB=${network.instanceB}`, "--parameter", `LoadBalancerSubnets=${network.loadBalancer.join(",")}`];
const launchTemplateImage = async (stack: string) => {
  const resources = (await aws.json("cloudformation", "list-stack-resources", "--stack-name", stack)).StackResourceSummaries;
  const id = resources.find((r: any) => r.LogicalResourceId === "LaunchTemplate").PhysicalResourceId;
  const versions = (await aws.json("ec2", "describe-launch-template-versions", "--launch-template-id", id)).LaunchTemplateVersions;
  const latest = versions.sort((a: any, b: any) => b.VersionNumber - a.VersionNumber)[0];
  return /CODEDETECT_LAUNCHER_IMAGE=(\S+)/.exec(Buffer.from(latest.LaunchTemplateData.UserData, "base64").toString())![1];
};

test("deploy creates the stack (image pinned by digest alone, no tag), streams its events and ends CREATE_COMPLETE", { skip, timeout: 300_000 }, async () => {
  const result = await deploy("--stack", "cd-deploy", "--image", FAKE_DIGEST_ONLY_IMAGE, ...networkParameters());
  assert.equal(result.exitCode, 0, String(result.stderr));
  const stdout = String(result.stdout);
  assert.match(stdout, /^creating stack cd-deploy in eu-west-1 with 127\.0\.0\.1:5000\/codedetect@sha256:a1a1/);
  // moto reports only the stack's own events for CreateStack; CloudFormation adds one per resource.
  assert.match(stdout, /\d\d:\d\d:\d\d  CREATE_IN_PROGRESS\s+cd-deploy \(AWS::CloudFormation::Stack\)/);
  assert.match(stdout, /\ncd-deploy: CREATE_COMPLETE\noutputs:\n/);
  assert.match(stdout, /\n  AutoScalingGroupName +cd-deploy-instances\n/);
  assert.match(stdout, /\n  Url +http:\/\/cd-deploy-.*\.elb\.amazonaws\.com\n/);
  assert.equal(await launchTemplateImage("cd-deploy"), FAKE_DIGEST_ONLY_IMAGE);
});

// moto 5.2's UpdateStack fails on the production template itself (its update path loses the load balancer:
// "Fn::GetAtt references undefined resource LoadBalancer", and `aws cloudformation deploy` hits a List-parameter
// crash), so the update path is proven on a small template of the test's own with the same ImageUri parameter.
const SMALL_TEMPLATE = `AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  ImageUri: {Type: String}
  Keep: {Type: String}
Resources:
  Image: {Type: AWS::SSM::Parameter, Properties: {Name: {"Fn::Sub": "/test/\${AWS::StackName}"}, Type: String, Value: {Ref: ImageUri}}}
Outputs:
  Image: {Value: {Ref: ImageUri}}
  Keep: {Value: {Ref: Keep}}
`;

test("deploy with a new image updates the stack, keeping the parameters not given, and prints the new outputs", { skip, timeout: 300_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "deploy-small-"));
  const template = path.join(dir, "small.yaml");
  fs.writeFileSync(template, SMALL_TEMPLATE);
  try {
    const created = await deploy("--stack", "cd-small", "--template", template, "--image", FAKE_IMAGE, "--parameter", "Keep=kept-value");
    assert.equal(created.exitCode, 0, String(created.stderr));
    const next = FAKE_IMAGE.replace(/@sha256:.*/, `@sha256:${"b2".repeat(32)}`).replace(":3.0.0@", ":3.0.1@");
    const updated = await deploy("--stack", "cd-small", "--template", template, "--image", next);
    assert.equal(updated.exitCode, 0, String(updated.stderr));
    const stdout = String(updated.stdout);
    assert.match(stdout, /^updating stack cd-small/);
    assert.match(stdout, /\ncd-small: UPDATE_COMPLETE\n/);
    assert.match(stdout, new RegExp(`\\n  Image +${next.replace(/[.]/g, "\\.")}\\n`));
    assert.match(stdout, /\n  Keep +kept-value$/, "the parameter not given kept its previous value");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a failing deployment (two instance subnets in one zone) exits 1 and prints why", { skip, timeout: 300_000 }, async () => {
  const result = await deploy("--stack", "cd-broken", "--image", FAKE_IMAGE, "--parameter", "Protocol=http", "--parameter", `VpcId=${network.vpcId}`, "--parameter", `InstanceSubnetA=${network.instanceA}`, "--parameter", `InstanceSubnetB=${network.instanceA2}`, "--parameter", `LoadBalancerSubnets=${network.loadBalancer.join(",")}`);
  assert.equal(result.exitCode, 1);
  assert.match(String(result.stderr), /^deploy: create failed: .*mount target already exists in this AZ/m);
});

test("refusals are one line with exit 2: no stack, a tag without digest, an unknown parameter, a new stack missing a required one", { skip, timeout: 120_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [["--image", FAKE_IMAGE], /^deploy: --stack is required; usage:/],
    [["--stack", "x", "--image", "127.0.0.1:5000/codedetect:latest"], /^deploy: --image "127\.0\.0\.1:5000\/codedetect:latest" is not repository\[:tag\]@sha256:<64 hex digits>; deploy by digest/],
    [["--stack", "cd-deploy", "--image", FAKE_IMAGE, "--parameter", "Colour=red"], /^deploy: --parameter Colour: the template has no such parameter/],
    [["--stack", "cd-new", "--image", FAKE_IMAGE], /^deploy: a new stack needs --parameter VpcId=…, --parameter InstanceSubnetA=…, .*--parameter Protocol=… \(one of https, http\)/],
    [["--stack", "cd-new", "--image", FAKE_IMAGE, ...networkParameters().slice(2), "--parameter", "Protocol=https"], /^deploy: Protocol=https needs CertificateArn, or DomainName with HostedZoneId \(rule HttpsHasACertificate\); usage:/],
    [["--stack", "cd-new", "--image", FAKE_IMAGE, ...networkParameters(), "--parameter", "MinSize=3", "--parameter", "MaxSize=3"], /^deploy: MaxSize must be above MinSize: .* \(rule RollingUpdateHasRoom\)/],
    [["--stack", "cd-new", "--image", FAKE_IMAGE, ...networkParameters(), "--parameter", "MinSize=4", "--parameter", "MaxSize=3"], /^deploy: MaxSize 3 with MinSize 4: MaxSize must be above MinSize/],
    [["--stack", "x", "--image", FAKE_IMAGE, "--poll-seconds", "0"], /^deploy: --poll-seconds must be a whole number from 1 to 300, got "0"/],
  ];
  for (const [args, expected] of cases) {
    const result = await deploy(...args);
    assert.equal(result.exitCode, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(String(result.stderr), expected);
    assert.equal(String(result.stderr).trim().split("\n").length, 1);
  }
});

test("failed resources are reported oldest first with their reasons, the stack's own events left out", () => {
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
  const events = [
    { EventId: "5", Timestamp: at(5), LogicalResourceId: "cd", ResourceType: "AWS::CloudFormation::Stack", ResourceStatus: "ROLLBACK_IN_PROGRESS", ResourceStatusReason: "The following resource(s) failed to create: [AutoScalingGroup]." },
    { EventId: "4", Timestamp: at(4), LogicalResourceId: "AutoScalingGroup", ResourceType: "AWS::AutoScaling::AutoScalingGroup", ResourceStatus: "CREATE_FAILED", ResourceStatusReason: "Received 1 FAILURE signal(s) out of 2." },
    { EventId: "3", Timestamp: at(3), LogicalResourceId: "FileSystemMountTargetB", ResourceType: "AWS::EFS::MountTarget", ResourceStatus: "CREATE_FAILED", ResourceStatusReason: "mount target already exists in this AZ" },
    { EventId: "1", Timestamp: at(1), LogicalResourceId: "LoadBalancer", ResourceType: "AWS::ElasticLoadBalancingV2::LoadBalancer", ResourceStatus: "CREATE_COMPLETE" },
  ];
  assert.deepEqual(failedResources(events), [
    { resource: "FileSystemMountTargetB (AWS::EFS::MountTarget)", status: "CREATE_FAILED", reason: "mount target already exists in this AZ" },
    { resource: "AutoScalingGroup (AWS::AutoScaling::AutoScalingGroup)", status: "CREATE_FAILED", reason: "Received 1 FAILURE signal(s) out of 2." },
  ]);
});

test("an update keeps previous values for parameters not given, and names none the stack never had", () => {
  const args = parseDeployArgs(["--stack", "s", "--image", FAKE_IMAGE, "--parameter", "MaxSize=6"], { AWS_REGION: "eu-west-1" }, "t.yaml");
  const plan = planDeploy(args, { parameters: { VpcId: {}, ImageUri: {}, MaxSize: { Default: 4 }, Secret: {}, EnableWaf: { Default: "true" } } }, { previous: { VpcId: "vpc-1", ImageUri: "old", MaxSize: "4", Secret: "****" } });
  assert.deepEqual(plan, {
    kind: "update",
    stack: "s",
    parameters: [{ ParameterKey: "VpcId", ParameterValue: "vpc-1" }, { ParameterKey: "ImageUri", ParameterValue: FAKE_IMAGE }, { ParameterKey: "MaxSize", ParameterValue: "6" }, { ParameterKey: "Secret", UsePreviousValue: true }],
  });
  assert.throws(() => parseDeployArgs(["--stack", "s", "--image", FAKE_IMAGE], {}, "t.yaml"), (error: Error) => error instanceof UsageProblem && /no region/.test(error.message));
});

test("an update of a stack made before Protocol existed names the choice; the rules see previous values and defaults", () => {
  const template = {
    parameters: { ImageUri: {}, Protocol: { AllowedValues: ["https", "http"] }, CertificateArn: { Default: "" }, DomainName: { Default: "" }, HostedZoneId: { Default: "" }, MinSize: { Default: 2 }, MaxSize: { Default: 4 } },
    rules: parse(fs.readFileSync(path.join(ROOT, "cloudformation/codedetect.yaml"), "utf8")).Rules,
  };
  const args = (...parameters: string[]) => parseDeployArgs(["--stack", "old", "--image", FAKE_IMAGE, "--region", "eu-west-1", ...parameters.flatMap((p) => ["--parameter", p])], {}, "t.yaml");
  const old = { previous: { ImageUri: "x", DomainName: "codedetect.example.com", HostedZoneId: "Z123", MinSize: "2", MaxSize: "4" } };
  const refused = (run: () => unknown, expected: RegExp) => assert.throws(run, (error: Error) => error instanceof UsageProblem && expected.test(error.message));
  refused(() => planDeploy(args("Protocol=HTTPS"), template, old), /^--parameter Protocol=HTTPS: not one of https, http$/);
  refused(() => planDeploy(args(), template, old), /^stack old has no value for Protocol, which this template requires: give --parameter Protocol=… \(one of https, http\)$/);
  assert.equal(planDeploy(args("Protocol=https"), template, old).kind, "update", "the previous domain and zone satisfy https");
  refused(() => planDeploy(args("Protocol=http"), template, old), /^Protocol=http takes no CertificateArn, DomainName or HostedZoneId/);
  refused(() => planDeploy(args("Protocol=https", "MinSize=4"), template, old), /^MaxSize must be above MinSize/);
  // a masked previous value is unknown here: the rule it takes part in is left to CloudFormation
  assert.equal(planDeploy(args("Protocol=http"), template, { previous: { ...old.previous, DomainName: "****", HostedZoneId: "****" } }).kind, "update");
});

test("a region that is not one, or a flag given twice, is refused before any AWS call (was: an XML parse error from the SDK; the last --stack silently won)", () => {
  const refused = (argv: string[], env: NodeJS.ProcessEnv, expected: RegExp) => assert.throws(() => parseDeployArgs(argv, env, "t.yaml"), (error: Error) => error instanceof UsageProblem && expected.test(error.message), argv.join(" "));
  refused(["--stack", "s", "--image", FAKE_IMAGE, "--region", "Europe"], {}, /^region "Europe" is not an AWS region name like "eu-west-1"$/);
  refused(["--stack", "s", "--image", FAKE_IMAGE], { AWS_REGION: "eu-west-1a" }, /^region "eu-west-1a" \(from the environment\) is not an AWS region name/);
  refused(["--stack", "prod", "--image", FAKE_IMAGE, "--region", "eu-west-1", "--stack", "staging"], {}, /^--stack given twice$/);
  refused(["--stack", "s", "--image", FAKE_IMAGE, "--region", "eu-west-1", "--region", "us-east-1"], {}, /^--region given twice$/);
  for (const region of ["us-gov-west-1", "eusc-de-east-1"]) assert.equal(parseDeployArgs(["--stack", "s", "--image", FAKE_IMAGE, "--region", region], {}, "t.yaml").region, region);
  assert.deepEqual(Object.keys(parseDeployArgs(["--stack", "s", "--image", FAKE_IMAGE, "--region", "eu-west-1", "--parameter", "A=1", "--parameter", "B=2"], {}, "t.yaml").parameters), ["A", "B"], "--parameter may repeat");
});

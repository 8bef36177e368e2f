// The agent's AWS calls on the wire. SignalResource and CompleteLifecycleAction go to a recording loopback endpoint that asserts the
// exact requests, because moto implements neither (moto_server has no cloudformation signal_resource and no autoscaling
// complete_lifecycle_action). Target health, (de)registration and SetInstanceHealth run against moto, which implements them.
import assert from "node:assert/strict";
import fs from "node:fs";
import { after, before, describe, it } from "node:test";
import { AutoScalingClient, CreateAutoScalingGroupCommand, CreateLaunchConfigurationCommand, DescribeAutoScalingInstancesCommand } from "@aws-sdk/client-auto-scaling";
import { CreateSubnetCommand, CreateVpcCommand, DescribeImagesCommand, EC2Client, RunInstancesCommand } from "@aws-sdk/client-ec2";
import { CreateFileSystemCommand, CreateMountTargetCommand, EFSClient } from "@aws-sdk/client-efs";
import path from "node:path";
import { CreateTargetGroupCommand, ElasticLoadBalancingV2Client } from "@aws-sdk/client-elastic-load-balancing-v2";
import { createAwsAdapter } from "../../bootstrap/adapters/aws.ts";
import { createBalancer } from "../../bootstrap/adapters/balancer.ts";
import { createAgentExecutor } from "../../bootstrap/executor.ts";
import { resolveConfig } from "../../bootstrap/config.ts";
import { planSignal, planFailureSignal } from "../../bootstrap/steps/signal.ts";
import { planShutdown } from "../../bootstrap/supervise-plan.ts";
import { stackModel } from "../../bootstrap/stack.ts";
import { StepError } from "../../bootstrap/errors.ts";
import { runAgent, tempDir } from "./helpers.ts";
import { motoUnavailable, startImds, startMoto } from "./loopback.ts";
import { startRecordingAws } from "./recording-aws.ts";

const REGION = "eu-west-1";
const FAST = { attempts: 4, minDelayMs: 10, maxDelayMs: 20, deadlineMs: 10_000 };
const IMAGE = `registry.example.com/codedetect:v2@sha256:${"a".repeat(64)}`;
const identity = { instanceId: "i-0abc1234def567890", zone: "eu-west-1b", region: REGION, source: "imds" as const };
const config = (stateDir: string) =>
  resolveConfig(false, { file: { fileSystemId: "fs-0123456789abcdef0", stateDir, image: IMAGE, stackName: "prod", logicalResourceId: "WebGroup", autoScalingGroup: "web-asg", lifecycleHook: "drain" } }).config;
Object.assign(process.env, { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test", AWS_EC2_METADATA_DISABLED: "true" });

describe("calls moto lacks, against a recording endpoint", () => {
  it("the signal step's plan, performed: exactly one SignalResource SUCCESS with UniqueId = the instance ID, then the record", async (t) => {
    const recorder = await startRecordingAws();
    t.after(recorder.stop);
    const stateDir = tempDir("cdagent-signal");
    t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));
    const executor = createAgentExecutor({ aws: async () => createAwsAdapter({ region: REGION, endpoint: recorder.url, retry: FAST }) });
    for (const action of planSignal({ instanceId: identity.instanceId, recorded: null, now: new Date().toISOString() }, config(stateDir))) await executor.perform(action);
    assert.deepEqual(recorder.calls, [{ action: "SignalResource", params: { StackName: "prod", LogicalResourceId: "WebGroup", UniqueId: identity.instanceId, Status: "SUCCESS" } }]);
  });

  it("a failed step signals FAILURE, retried through two 503s (three requests, the same each time)", async (t) => {
    const recorder = await startRecordingAws([503, 503]);
    t.after(recorder.stop);
    const stateDir = tempDir("cdagent-signal");
    t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));
    const executor = createAgentExecutor({ aws: async () => createAwsAdapter({ region: REGION, endpoint: recorder.url, retry: FAST }) });
    const failure = new StepError({ step: "start", action: "pull", cause: "registry down", next: "x" });
    for (const action of planFailureSignal(config(stateDir), identity, failure, new Date().toISOString())) await executor.perform(action);
    const expected = { action: "SignalResource", params: { StackName: "prod", LogicalResourceId: "WebGroup", UniqueId: identity.instanceId, Status: "FAILURE" } };
    assert.deepEqual(recorder.calls, [expected, expected, expected]);
  });

  it("a refusal (400 ValidationError) is not retried and is reported with its code", async (t) => {
    const recorder = await startRecordingAws([400]);
    t.after(recorder.stop);
    const aws = createAwsAdapter({ region: REGION, endpoint: recorder.url, retry: FAST });
    await assert.rejects(aws.perform("cloudformation:SignalResource", { StackName: "prod", LogicalResourceId: "WebGroup", UniqueId: "i-1", Status: "SUCCESS" }), /SignalResource failed after 1 attempt: ValidationError \(HTTP 400\): Stack prod does not exist/);
    assert.equal(recorder.calls.length, 1);
  });

  it("an unknown call is refused before anything is sent", async (t) => {
    const recorder = await startRecordingAws();
    t.after(recorder.stop);
    await assert.rejects(createAwsAdapter({ region: REGION, endpoint: recorder.url }).perform("ec2:TerminateInstances", {}), /not one this agent makes/);
    assert.equal(recorder.calls.length, 0);
  });

  it("supervise's shutdown on termination ends with exactly one CompleteLifecycleAction CONTINUE for this instance", async (t) => {
    const recorder = await startRecordingAws([503]);
    t.after(recorder.stop);
    const stateDir = tempDir("cdagent-lifecycle");
    t.after(() => fs.rmSync(stateDir, { recursive: true, force: true }));
    const cfg = config(stateDir);
    const actions = planShutdown({ config: cfg, instanceId: identity.instanceId, model: stackModel(cfg, identity, IMAGE), balancer: null }, true).filter((action) => action.kind === "aws");
    const executor = createAgentExecutor({ aws: async () => createAwsAdapter({ region: REGION, endpoint: recorder.url, retry: FAST }) });
    for (const action of actions) await executor.perform(action);
    const expected = { action: "CompleteLifecycleAction", params: { AutoScalingGroupName: "web-asg", LifecycleHookName: "drain", InstanceId: identity.instanceId, LifecycleActionResult: "CONTINUE" } };
    assert.deepEqual(recorder.calls, [expected, expected], "one 503, then the same request again");
  });
});

const unavailable = motoUnavailable();
const mustFail = unavailable !== null && process.env.CI === "true";

describe("target health, (de)registration and instance health against moto", { skip: unavailable !== null && !mustFail ? `moto suite skipped: ${unavailable}` : false }, () => {
  let moto: Awaited<ReturnType<typeof startMoto>>;
  let instanceId = "";
  let targetGroupArn = "";
  before(async () => {
    if (mustFail) throw new Error(`moto is required under CI: ${unavailable}`);
    moto = await startMoto();
    const client = { region: REGION, endpoint: moto.url, credentials: { accessKeyId: "test", secretAccessKey: "test" } };
    const ec2 = new EC2Client(client);
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "10.0.0.0/16" }));
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId, CidrBlock: "10.0.1.0/24", AvailabilityZone: `${REGION}b` }));
    const image = (await ec2.send(new DescribeImagesCommand({}))).Images![0]!.ImageId;
    const asg = new AutoScalingClient(client);
    await asg.send(new CreateLaunchConfigurationCommand({ LaunchConfigurationName: "web", ImageId: image, InstanceType: "t3.micro" }));
    await asg.send(new CreateAutoScalingGroupCommand({ AutoScalingGroupName: "web-asg", LaunchConfigurationName: "web", MinSize: 1, MaxSize: 1, DesiredCapacity: 1, VPCZoneIdentifier: subnet.Subnet!.SubnetId }));
    instanceId = (await asg.send(new DescribeAutoScalingInstancesCommand({}))).AutoScalingInstances![0]!.InstanceId!;
    const elb = new ElasticLoadBalancingV2Client(client);
    targetGroupArn = (await elb.send(new CreateTargetGroupCommand({ Name: "web", Protocol: "HTTP", Port: 5000, VpcId: vpc.Vpc!.VpcId, TargetType: "instance" }))).TargetGroups![0]!.TargetGroupArn!;
  });
  after(() => moto?.stop());

  it("a target is unregistered, then registered through the balancer seam and reported by DescribeTargetHealth, then gone again", async () => {
    const aws = createAwsAdapter({ region: REGION, endpoint: moto.url, retry: FAST });
    const balancer = createBalancer(`elbv2:${targetGroupArn}`, async () => aws);
    const target = { id: instanceId, port: 5000 };
    assert.equal((await balancer.health(target)).state, "unregistered");
    await balancer.register(target);
    const registered = await balancer.health(target);
    assert.notEqual(registered.state, "unregistered", `moto reports the registered target (${JSON.stringify(registered)})`);
    await balancer.deregister(target);
    assert.equal((await balancer.health(target)).state, "unregistered");
  });

  it("SetInstanceHealth Unhealthy, as supervise sends it, marks the instance unhealthy in its group", async () => {
    const aws = createAwsAdapter({ region: REGION, endpoint: moto.url, retry: FAST });
    await aws.perform("autoscaling:SetInstanceHealth", { InstanceId: instanceId, HealthStatus: "Unhealthy", ShouldRespectGracePeriod: false });
    const client = new AutoScalingClient({ region: REGION, endpoint: moto.url, credentials: { accessKeyId: "test", secretAccessKey: "test" } });
    const seen = (await client.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }))).AutoScalingInstances![0]!;
    assert.match(seen.HealthStatus!, /^unhealthy$/i);
  });
});

describe("the agent as a process on \"EC2\": a failed step signals FAILURE at once", { skip: unavailable !== null && !mustFail ? `moto suite skipped: ${unavailable}` : false }, () => {
  it("the mount refuses a plain directory: exit 1, and exactly one SignalResource FAILURE for this instance (EC2 and EFS from moto through the recorder)", async (t) => {
    if (mustFail) throw new Error(`moto is required under CI: ${unavailable}`);
    const moto = await startMoto();
    t.after(() => moto.stop());
    const client = { region: REGION, endpoint: moto.url, credentials: { accessKeyId: "test", secretAccessKey: "test" } };
    const ec2 = new EC2Client(client);
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "10.0.0.0/16" }));
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId, CidrBlock: "10.0.1.0/24", AvailabilityZone: `${REGION}b` }));
    const image = (await ec2.send(new DescribeImagesCommand({}))).Images![0]!.ImageId;
    const instanceId = (await ec2.send(new RunInstancesCommand({ ImageId: image, MinCount: 1, MaxCount: 1, SubnetId: subnet.Subnet!.SubnetId }))).Instances![0]!.InstanceId!;
    const efs = new EFSClient(client);
    const fileSystemId = (await efs.send(new CreateFileSystemCommand({ CreationToken: "cdagent-signal" }))).FileSystemId!;
    await efs.send(new CreateMountTargetCommand({ FileSystemId: fileSystemId, SubnetId: subnet.Subnet!.SubnetId }));
    const recorder = await startRecordingAws([], moto.url);
    t.after(recorder.stop);
    const imds = await startImds({ instanceId, zone: `${REGION}b`, region: REGION });
    t.after(imds.stop);
    const root = tempDir("cdagent-failure-signal");
    const bin = path.join(root, "bin");
    fs.mkdirSync(bin);
    // Stand-in for `mount` (this kernel has no NFS client): it succeeds and mounts nothing, so the mount step must fail.
    fs.writeFileSync(path.join(bin, "mount"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    fs.writeFileSync(path.join(bin, "mount.efs"), "#!/bin/sh\nexit 1\n", { mode: 0o755 }); // amazon-efs-utils, as the agent looks for it
    fs.writeFileSync(path.join(root, "fstab"), "");
    const config = {
      fileSystemId,
      stateDir: path.join(root, "state"),
      sharedDir: path.join(root, "mnt", "efs"),
      fstab: path.join(root, "fstab"),
      migrateFrom: null,
      image: IMAGE,
      awsEndpoint: recorder.url,
      imdsEndpoint: imds.url,
      stackName: "prod",
      logicalResourceId: "WebGroup",
    };
    fs.writeFileSync(path.join(root, "bootstrap.json"), JSON.stringify(config));
    const result = await runAgent(["--config", path.join(root, "bootstrap.json")], { PATH: `${bin}:${process.env.PATH}`, BOOTSTRAP_TEST_MOUNT_HELPER_DIR: bin }, { full: true });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^bootstrap: step mount: wait mounted:.* is a plain directory, not a mount point/);
    assert.deepEqual(recorder.calls, [{ action: "SignalResource", params: { StackName: "prod", LogicalResourceId: "WebGroup", UniqueId: instanceId, Status: "FAILURE" } }]);
    const record = JSON.parse(fs.readFileSync(path.join(root, "state", "signal.json"), "utf8"));
    assert.equal(record.status, "FAILURE");
    fs.rmSync(root, { recursive: true, force: true });
  });
});

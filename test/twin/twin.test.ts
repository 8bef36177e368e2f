// The twin's semantics, each against the AWS documentation it cites, with the real AWS SDK v3 clients as callers (one twin for the suite).
// The instances are loopback HTTP servers answering /api/health (fake-instances.ts): these tests are about the control plane, not the agent.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { AutoScalingClient, CompleteLifecycleActionCommand, DescribeAutoScalingInstancesCommand, RecordLifecycleActionHeartbeatCommand, SetInstanceHealthCommand } from "@aws-sdk/client-auto-scaling";
import { CloudFormationClient, DescribeStacksCommand, SignalResourceCommand } from "@aws-sdk/client-cloudformation";
import { DescribeTagsCommand, EC2Client } from "@aws-sdk/client-ec2";
import { DescribeMountTargetsCommand, EFSClient } from "@aws-sdk/client-efs";
import { DeregisterTargetsCommand, DescribeTargetHealthCommand, ElasticLoadBalancingV2Client, RegisterTargetsCommand } from "@aws-sdk/client-elastic-load-balancing-v2";
import { freePort } from "../bootstrap/loopback.ts";
import { fakeFleet } from "./fake-instances.ts";
import { startTwin, type Twin } from "./twin.ts";

const REGION = "eu-west-1";
/** 1 AWS second = 10 ms: a 60 s grace in 0.6 s. */
const SCALE = 0.01;
const HEALTH = { path: "/api/health", intervalSeconds: 5, timeoutSeconds: 2, healthyThreshold: 2, unhealthyThreshold: 2 };

async function refusal(promise: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await promise;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  assert.fail("the call was accepted");
}

describe("the AWS twin", () => {
  let twin: Twin;
  let fleet: ReturnType<typeof fakeFleet>;
  let clients: { cfn: CloudFormationClient; asg: AutoScalingClient; elb: ElasticLoadBalancingV2Client; ec2: EC2Client; efs: EFSClient };
  let port = 0;

  before(async () => {
    port = await freePort();
    fleet = fakeFleet(port);
    twin = await startTwin({ region: REGION, timeScale: SCALE, launch: (i) => fleet.launch(i), terminate: (i) => fleet.terminate(i), fileSystems: [{ id: "fs-0123456789abcdef0", zones: [`${REGION}a`, `${REGION}b`] }] });
    const config = { region: REGION, endpoint: twin.url, credentials: { accessKeyId: "test", secretAccessKey: "test" }, maxAttempts: 1 };
    clients = { cfn: new CloudFormationClient(config), asg: new AutoScalingClient(config), elb: new ElasticLoadBalancingV2Client(config), ec2: new EC2Client(config), efs: new EFSClient(config) };
  });
  after(async () => {
    await twin.close();
    await fleet.close();
  });

  const live = (group: string) => [...twin.autoscaling.instances.values()].filter((i) => i.group === group && !/^Terminat/.test(i.lifecycleState));
  const inService = (group: string) => live(group).filter((i) => i.lifecycleState === "InService");

  it("SignalResource counts during the create's CreationPolicy, then refuses exactly as AWS: 'Stack … is in CREATE_COMPLETE state and cannot be signaled' (400)", async () => {
    const tg = twin.elbv2.createTargetGroup({ name: "sig", port, healthCheck: HEALTH, deregistrationDelaySeconds: 10 });
    const stack = twin.cloudformation.createStack({ name: "sig", logicalResourceId: "Group", signalCount: 2, signalTimeoutSeconds: 600, group: { name: "sig-asg", min: 2, max: 4, desired: 2, zones: [`${REGION}a`], targetGroupArns: [tg.arn] } });
    await twin.waitFor("two instances", () => live("sig-asg").length === 2 && live("sig-asg").every((i) => i.host));
    const [first, second] = live("sig-asg");
    const signal = (id: string, status: "SUCCESS" | "FAILURE" = "SUCCESS") => clients.cfn.send(new SignalResourceCommand({ StackName: "sig", LogicalResourceId: "Group", UniqueId: id, Status: status }));
    await signal(first!.id);
    await signal(first!.id);
    assert.equal(stack.status, "CREATE_IN_PROGRESS", "one UniqueId counts once: 1 of 2");
    await signal(second!.id);
    assert.equal(await stack.settled, "CREATE_COMPLETE");
    const described = await clients.cfn.send(new DescribeStacksCommand({ StackName: "sig" }));
    assert.equal(described.Stacks?.[0]?.StackStatus, "CREATE_COMPLETE");
    // A scale-out after the stack settled: the new instance's SUCCESS is refused (aws-cloudformation-templates issues 34, 126).
    await clients.asg.send(new (await import("@aws-sdk/client-auto-scaling")).SetDesiredCapacityCommand({ AutoScalingGroupName: "sig-asg", DesiredCapacity: 3 }));
    await twin.waitFor("the third instance", () => live("sig-asg").length === 3);
    const third = live("sig-asg").find((i) => i.id !== first!.id && i.id !== second!.id)!;
    assert.equal(third.cause, "launched by the group after the stack settled");
    assert.deepEqual(await refusal(signal(third.id)), { name: "ValidationError", message: "Stack sig is in CREATE_COMPLETE state and cannot be signaled", status: 400 });
    assert.deepEqual(await refusal(clients.cfn.send(new SignalResourceCommand({ StackName: "nope", LogicalResourceId: "Group", UniqueId: third.id, Status: "SUCCESS" }))), { name: "ValidationError", message: "Stack with id nope does not exist", status: 400 });
    // A name outside StackName's documented pattern is refused by validation, not looked up (API_SignalResource.html).
    const invalid = await refusal(clients.cfn.send(new SignalResourceCommand({ StackName: "my_stack", LogicalResourceId: "Group", UniqueId: third.id, Status: "SUCCESS" })));
    assert.equal(invalid.name, "ValidationError");
    assert.match(invalid.message, /^1 validation error detected: Value 'my_stack' at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern/);
  });

  it("FAILURE fails the create at once; a create without enough signals fails at the timeout; both roll back and delete the instances", async () => {
    const failing = twin.cloudformation.createStack({ name: "fail", logicalResourceId: "Group", signalCount: 1, signalTimeoutSeconds: 600, group: { name: "fail-asg", min: 1, max: 1, desired: 1, zones: [`${REGION}a`] } });
    await twin.waitFor("an instance", () => live("fail-asg").length === 1);
    await clients.cfn.send(new SignalResourceCommand({ StackName: "fail", LogicalResourceId: "Group", UniqueId: live("fail-asg")[0]!.id, Status: "FAILURE" }));
    assert.equal(await failing.settled, "ROLLBACK_COMPLETE");
    assert.match(failing.statusReason ?? "", /Received FAILURE signal/);
    const silent = twin.cloudformation.createStack({ name: "silent", logicalResourceId: "Group", signalCount: 1, signalTimeoutSeconds: 30, group: { name: "silent-asg", min: 1, max: 1, desired: 1, zones: [`${REGION}a`] } });
    assert.equal(await silent.settled, "ROLLBACK_COMPLETE");
    assert.equal(silent.statusReason, "Failed to receive 1 resource signal(s) within the specified duration");
    await twin.waitFor("the rolled-back instances terminated", () => live("fail-asg").length === 0 && live("silent-asg").length === 0);
    assert.deepEqual(await refusal(clients.cfn.send(new SignalResourceCommand({ StackName: "silent", LogicalResourceId: "Group", UniqueId: "i-0", Status: "SUCCESS" }))), { name: "ValidationError", message: "Stack silent is in ROLLBACK_COMPLETE state and cannot be signaled", status: 400 });
  });

  it("a launching hook holds the instance in Pending:Wait (IMDS already says InService), out of the target group; heartbeats extend it; CompleteLifecycleAction CONTINUE puts it in service; unknown instances are refused", async () => {
    const tg = twin.elbv2.createTargetGroup({ name: "hook", port, healthCheck: HEALTH, deregistrationDelaySeconds: 5 });
    twin.autoscaling.createGroup({ name: "hook-asg", min: 1, max: 2, desired: 1, zones: [`${REGION}a`], targetGroupArns: [tg.arn], healthCheckType: "ELB", gracePeriodSeconds: 60, hooks: [{ name: "launching", transition: "autoscaling:EC2_INSTANCE_LAUNCHING", heartbeatTimeoutSeconds: 100, defaultResult: "ABANDON" }] });
    await twin.waitFor("Pending:Wait", () => live("hook-asg")[0]?.lifecycleState === "Pending:Wait");
    const instance = live("hook-asg")[0]!;
    const token = await (await fetch(`${instance.imdsUrl}/latest/api/token`, { method: "PUT", headers: { "X-aws-ec2-metadata-token-ttl-seconds": "60" } })).text();
    const lifecycle = await (await fetch(`${instance.imdsUrl}/latest/meta-data/autoscaling/target-lifecycle-state`, { headers: { "X-aws-ec2-metadata-token": token } })).text();
    assert.equal(lifecycle, "InService", "the target lifecycle state is where the instance is going");
    assert.equal(twin.elbv2.state(tg.arn, instance.id, port), "unregistered", "not in the load balancer while it waits");
    const complete = (id: string, result = "CONTINUE") => clients.asg.send(new CompleteLifecycleActionCommand({ AutoScalingGroupName: "hook-asg", LifecycleHookName: "launching", InstanceId: id, LifecycleActionResult: result }));
    assert.deepEqual(await refusal(complete("i-00000000000000000")), { name: "ValidationError", message: "No active Lifecycle Action found with instance ID i-00000000000000000", status: 400 });
    assert.deepEqual(await refusal(clients.asg.send(new RecordLifecycleActionHeartbeatCommand({ AutoScalingGroupName: "hook-asg", LifecycleHookName: "other", InstanceId: instance.id }))), { name: "ValidationError", message: "No Lifecycle Hook found with name other for group hook-asg", status: 400 });
    // Heartbeats every 60 AWS s against a 100 s timeout keep it waiting past 200 s.
    for (let beat = 0; beat < 4; beat += 1) {
      await new Promise((resolve) => setTimeout(resolve, twin.clock.ms(60)));
      await clients.asg.send(new RecordLifecycleActionHeartbeatCommand({ AutoScalingGroupName: "hook-asg", LifecycleHookName: "launching", InstanceId: instance.id }));
    }
    assert.equal(instance.lifecycleState, "Pending:Wait", "heartbeats extended the 100 s timeout");
    // A token that is not the action's, even beside the right instance ID, completes nothing (API_CompleteLifecycleAction.html: the
    // token identifies the action); the instance keeps waiting.
    const wrongToken = await refusal(clients.asg.send(new CompleteLifecycleActionCommand({ AutoScalingGroupName: "hook-asg", LifecycleHookName: "launching", InstanceId: instance.id, LifecycleActionToken: "00000000-0000-0000-0000-000000000000", LifecycleActionResult: "CONTINUE" })));
    assert.equal(wrongToken.name, "ValidationError");
    assert.equal(instance.lifecycleState, "Pending:Wait", "a wrong token completed nothing");
    await complete(instance.id);
    assert.equal(instance.lifecycleState, "InService");
    assert.notEqual(twin.elbv2.state(tg.arn, instance.id, port), "unregistered", "registered on the way to InService");
    assert.deepEqual(await refusal(complete(instance.id)), { name: "ValidationError", message: `No active Lifecycle Action found with instance ID ${instance.id}`, status: 400 });
    await twin.waitFor("healthy", () => twin.elbv2.state(tg.arn, instance.id, port) === "healthy");
    const asgView = await clients.asg.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instance.id] }));
    assert.equal(asgView.AutoScalingInstances?.[0]?.LifecycleState, "InService");
  });

  it("a launching hook left alone times out with its default result ABANDON: the instance is terminated and replaced", async () => {
    twin.autoscaling.createGroup({ name: "abandon-asg", min: 0, max: 1, desired: 1, zones: [`${REGION}a`], hooks: [{ name: "launching", transition: "autoscaling:EC2_INSTANCE_LAUNCHING", heartbeatTimeoutSeconds: 30, defaultResult: "ABANDON" }] });
    await twin.waitFor("the first instance waiting", () => live("abandon-asg")[0]?.lifecycleState === "Pending:Wait");
    const first = live("abandon-asg")[0]!;
    await twin.waitFor("its replacement", () => first.lifecycleState === "Terminated" && live("abandon-asg").length === 1 && live("abandon-asg")[0]!.id !== first.id);
    assert.ok(twin.events.some((e) => e.resource === first.id && e.what === "lifecycle hook launching timed out: default result ABANDON"));
    assert.ok(fleet.stopped.includes(first.id), "the harness was told to stop it");
    twin.autoscaling.setDesired("abandon-asg", 0);
  });

  it("ELBv2: unused without a listener, initial → healthy → unhealthy → healthy, draining for the deregistration delay; unknown groups and instances refused", async () => {
    const routed: string[][] = [];
    const tg = twin.elbv2.createTargetGroup({ name: "states", port, healthCheck: HEALTH, deregistrationDelaySeconds: 30, listener: false, setTargets: (targets) => routed.push(targets.map((t) => t.id)) });
    twin.autoscaling.createGroup({ name: "states-asg", min: 0, max: 1, desired: 1, zones: [`${REGION}b`] });
    await twin.waitFor("in service", () => inService("states-asg").length === 1);
    const instance = inService("states-asg")[0]!;
    const health = async () => (await clients.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg.arn, Targets: [{ Id: instance.id, Port: port }] }))).TargetHealthDescriptions?.[0]?.TargetHealth;
    assert.deepEqual(await health(), { State: "unused", Reason: "Target.NotRegistered", Description: "Target is not registered to the target group" });
    await clients.elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.arn, Targets: [{ Id: instance.id, Port: port }] }));
    assert.equal((await health())?.Reason, "Target.NotInUse", "no listener: unused, no health checks");
    twin.elbv2.setListener(tg.arn, true);
    assert.equal((await health())?.State, "initial");
    await twin.waitFor("healthy", () => twin.elbv2.state(tg.arn, instance.id, port) === "healthy");
    assert.deepEqual(routed.at(-1), [instance.id], "the data plane was told to route to it");
    fleet.running.get(instance.id)!.healthy = false;
    await twin.waitFor("unhealthy", () => twin.elbv2.state(tg.arn, instance.id, port) === "unhealthy");
    assert.deepEqual(await health(), { State: "unhealthy", Reason: "Target.ResponseCodeMismatch", Description: "Health checks failed with these codes: [503]" });
    assert.deepEqual(routed.at(-1), [instance.id], "only unhealthy targets: the load balancer fails open to them");
    fleet.running.get(instance.id)!.healthy = true;
    await twin.waitFor("healthy again", () => twin.elbv2.state(tg.arn, instance.id, port) === "healthy");
    const before = Date.now();
    await clients.elb.send(new DeregisterTargetsCommand({ TargetGroupArn: tg.arn, Targets: [{ Id: instance.id, Port: port }] }));
    assert.equal((await health())?.State, "draining");
    assert.deepEqual(routed.at(-1), [], "no new requests to a draining target");
    await twin.waitFor("gone", () => twin.elbv2.state(tg.arn, instance.id, port) === "unregistered");
    assert.ok(Date.now() - before >= twin.clock.ms(30) - 5, "draining lasted the deregistration delay");
    assert.equal((await health())?.Reason, "Target.NotRegistered");
    assert.deepEqual(await refusal(clients.elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: `${tg.arn}0` }))), { name: "TargetGroupNotFoundException", message: "One or more target groups not found", status: 400 });
    assert.deepEqual(await refusal(clients.elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.arn, Targets: [{ Id: "i-0123456789abcdef0" }] }))), { name: "InvalidTargetException", message: "The following targets are not in a running state and can't be registered: 'i-0123456789abcdef0'", status: 400 });
    twin.autoscaling.setDesired("states-asg", 0);
  });

  it("ELB health after the grace period terminates and replaces the instance; a terminating hook holds it (IMDS says Terminated) until CompleteLifecycleAction; SetInstanceHealth respects the grace unless told not to", async () => {
    const tg = twin.elbv2.createTargetGroup({ name: "grace", port, healthCheck: HEALTH, deregistrationDelaySeconds: 10 });
    twin.autoscaling.createGroup({ name: "grace-asg", min: 0, max: 2, desired: 1, zones: [`${REGION}a`], targetGroupArns: [tg.arn], healthCheckType: "ELB", gracePeriodSeconds: 120, healthSweepSeconds: 5, hooks: [{ name: "terminating", transition: "autoscaling:EC2_INSTANCE_TERMINATING", heartbeatTimeoutSeconds: 600, defaultResult: "CONTINUE" }] });
    await twin.waitFor("in service", () => inService("grace-asg").length === 1);
    const instance = inService("grace-asg")[0]!;
    fleet.running.get(instance.id)!.healthy = false;
    const failedAt = Date.now();
    await twin.waitFor("unhealthy at the load balancer", () => twin.elbv2.state(tg.arn, instance.id, port) === "unhealthy");
    await clients.asg.send(new SetInstanceHealthCommand({ InstanceId: instance.id, HealthStatus: "Unhealthy" }));
    assert.equal(instance.healthStatus, "Healthy", "within the grace period (ShouldRespectGracePeriod defaults to true) nothing changes");
    await twin.waitFor("marked Unhealthy after the grace", () => instance.healthStatus === "Unhealthy");
    assert.ok(Date.now() - failedAt >= twin.clock.ms(120) - twin.clock.ms(20), "not before the grace period ended");
    await twin.waitFor("Terminating:Wait", () => instance.lifecycleState === "Terminating:Wait");
    assert.equal(instance.targetLifecycleState, "Terminated");
    await twin.waitFor("a replacement launched", () => live("grace-asg").length === 1 && live("grace-asg")[0]!.id !== instance.id);
    await clients.asg.send(new CompleteLifecycleActionCommand({ AutoScalingGroupName: "grace-asg", LifecycleHookName: "terminating", InstanceId: instance.id, LifecycleActionResult: "CONTINUE" }));
    await twin.waitFor("terminated", () => instance.lifecycleState === "Terminated");
    const replacement = live("grace-asg")[0]!;
    await twin.waitFor("the replacement in service", () => replacement.lifecycleState === "InService");
    await clients.asg.send(new SetInstanceHealthCommand({ InstanceId: replacement.id, HealthStatus: "Unhealthy", ShouldRespectGracePeriod: false }));
    assert.equal(replacement.healthStatus, "Unhealthy", "ShouldRespectGracePeriod false: at once");
    assert.deepEqual(await refusal(clients.asg.send(new SetInstanceHealthCommand({ InstanceId: instance.id, HealthStatus: "Unhealthy" }))), { name: "ValidationError", message: `Instance Id not found - No managed instance found for instance ID: ${instance.id}`, status: 400 });
    twin.autoscaling.setDesired("grace-asg", 0);
  });

  it("IMDSv2: 401 without a token, 400 for a TTL out of 1..21600; identity, tags and EC2 DescribeTags; EFS mount targets and FileSystemNotFound", async () => {
    twin.autoscaling.createGroup({ name: "imds-asg", min: 0, max: 1, desired: 1, zones: [`${REGION}b`], tags: { "codedetect:port": String(port), Name: "web" } });
    await twin.waitFor("in service", () => inService("imds-asg").length === 1);
    const instance = inService("imds-asg")[0]!;
    assert.equal((await fetch(`${instance.imdsUrl}/latest/meta-data/instance-id`)).status, 401);
    assert.equal((await fetch(`${instance.imdsUrl}/latest/api/token`, { method: "PUT", headers: { "X-aws-ec2-metadata-token-ttl-seconds": "21601" } })).status, 400);
    const token = await (await fetch(`${instance.imdsUrl}/latest/api/token`, { method: "PUT", headers: { "X-aws-ec2-metadata-token-ttl-seconds": "300" } })).text();
    const get = async (path: string) => (await fetch(`${instance.imdsUrl}${path}`, { headers: { "X-aws-ec2-metadata-token": token } })).text();
    assert.equal(await get("/latest/meta-data/instance-id"), instance.id);
    assert.equal(await get("/latest/meta-data/placement/availability-zone"), `${REGION}b`);
    assert.equal(await get("/latest/meta-data/tags/instance/Name"), "web");
    assert.equal(JSON.parse(await get("/latest/dynamic/instance-identity/document")).instanceId, instance.id);
    const tags = await clients.ec2.send(new DescribeTagsCommand({ Filters: [{ Name: "resource-id", Values: [instance.id] }] }));
    assert.deepEqual(Object.fromEntries((tags.Tags ?? []).map((t) => [t.Key, t.Value])), { "codedetect:port": String(port), Name: "web", "aws:autoscaling:groupName": "imds-asg" });
    const targets = await clients.efs.send(new DescribeMountTargetsCommand({ FileSystemId: "fs-0123456789abcdef0" }));
    assert.deepEqual(targets.MountTargets?.map((t) => [t.AvailabilityZoneName, t.LifeCycleState]), [[`${REGION}a`, "available"], [`${REGION}b`, "available"]]);
    assert.deepEqual(await refusal(clients.efs.send(new DescribeMountTargetsCommand({ FileSystemId: "fs-0000000000000000f" }))), { name: "FileSystemNotFound", message: "File system 'fs-0000000000000000f' does not exist.", status: 404 });
    twin.autoscaling.setDesired("imds-asg", 0);
    await twin.waitFor("terminated", () => instance.lifecycleState === "Terminated");
    assert.equal((await fetch(`${instance.imdsUrl}/latest/api/token`, { method: "PUT", headers: { "X-aws-ec2-metadata-token-ttl-seconds": "300" } }).catch(() => null)), null, "a terminated instance's IMDS is gone");
  });
});

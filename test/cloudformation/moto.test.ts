// The committed template deployed into moto server with the real AWS CLI, then each created resource described and checked against the parameters.
//
// moto (5.2) creates through CloudFormation: security groups and ingress rules, the load balancer, target group and
// listener, the launch template, the Auto Scaling group with instances, EFS with mount targets, the role and profile,
// the log group, the SNS topic and the dashboard. It silently skips (no CloudFormation model in moto), so this test
// cannot check them here and template.test.ts checks them in the template instead: AWS::CloudWatch::Alarm,
// AWS::AutoScaling::ScalingPolicy, AWS::SNS::Subscription, AWS::EC2::SecurityGroupEgress, AWS::WAFv2::*, the group's
// LifecycleHookSpecificationList and NotificationConfigurations, the file system's FileSystemPolicy, the target group's
// TargetGroupAttributes and the load balancer's LoadBalancerAttributes (moto keeps its defaults), the role's
// ManagedPolicyArns (Session Manager: checked in the template); and it does not
// implement SignalResource, so CreationPolicy/UpdatePolicy are not exercised. The stack is deployed with Protocol=https
// and an existing certificate (requested from moto's ACM API beforehand): the listeners and 443 are checked; the
// branch that creates a certificate and a Route 53 record is not deployed (moto has no ACM model in CloudFormation,
// and a certificate could not validate here anyway). Protocol=http is deployed by deploy.test.ts.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { execa } from "execa";
import { parse } from "yaml";
import { ConfigSchema } from "../../bootstrap/config.ts";
import { LAUNCHER_SOURCE } from "../../bootstrap/user-data/cloud-config.ts";
import { motoUnavailable, startMoto } from "../bootstrap/loopback.ts";
import { cli, FAKE_IMAGE, parameterOverrides, twoZoneNetwork, type Cli, type Network } from "./aws-cli.ts";

const TEMPLATE = path.resolve(import.meta.dirname, "../../cloudformation/codedetect.yaml");
const STACK = "codedetect-moto";
const unavailable = motoUnavailable();
const skip = unavailable && process.env.CI !== "true" ? `moto suite skipped: ${unavailable}` : false;

let moto: Awaited<ReturnType<typeof startMoto>> | null = null;
let aws: Cli;
let network: Network;
let physical: Record<string, string> = {};
let certificateArn = "";

before(async () => {
  if (skip) return;
  moto = await startMoto();
  aws = cli(moto.url);
  network = await twoZoneNetwork(aws);
  certificateArn = (await aws.json("acm", "request-certificate", "--domain-name", "codedetect.example.com")).CertificateArn;
});
after(() => moto?.stop());

test("aws cloudformation deploy creates the stack: CREATE_COMPLETE", { skip, timeout: 300_000 }, async () => {
  const deploy = await aws.run("cloudformation", "deploy", "--stack-name", STACK, "--template-file", TEMPLATE, "--capabilities", "CAPABILITY_IAM", "--parameter-overrides",
    ...parameterOverrides(network, { InstanceType: "t3.small", MinSize: "2", DesiredCapacity: "3", MaxSize: "5", AlertEmail: "ops@example.com", LogRetentionDays: "14", Protocol: "https", CertificateArn: certificateArn, DomainName: "codedetect.example.com" }));
  assert.equal(deploy.exitCode, 0, deploy.stderr);
  const stack = (await aws.json("cloudformation", "describe-stacks", "--stack-name", STACK)).Stacks[0];
  assert.equal(stack.StackStatus, "CREATE_COMPLETE");
  const resources = (await aws.json("cloudformation", "list-stack-resources", "--stack-name", STACK)).StackResourceSummaries as { LogicalResourceId: string; PhysicalResourceId: string }[];
  physical = Object.fromEntries(resources.filter((r) => r.LogicalResourceId).map((r) => [r.LogicalResourceId, r.PhysicalResourceId]));
  physical.StackId = stack.StackId;
});

test("the group: sizes, ELB health with grace, both zones, the target group, instances launched", { skip }, async () => {
  const group = (await aws.json("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", `${STACK}-instances`)).AutoScalingGroups[0];
  assert.deepEqual([group.MinSize, group.DesiredCapacity, group.MaxSize], [2, 3, 5]);
  assert.equal(group.HealthCheckType, "ELB");
  assert.equal(group.HealthCheckGracePeriod, 240);
  assert.deepEqual(group.VPCZoneIdentifier.split(",").sort(), [network.instanceA, network.instanceB].sort());
  assert.deepEqual(group.TargetGroupARNs, [physical.TargetGroup]);
  assert.equal(group.Instances.length, 3);
  assert.equal(group.LaunchTemplate.LaunchTemplateId, physical.LaunchTemplate);
  // the agent's trustedProxies (TRUSTED_PROXIES for the server), the LoadBalancerCidrs default, on every instance it launches
  const trusted = group.Tags.find((tag: any) => tag.Key === "codedetect:trustedProxies");
  assert.deepEqual([trusted?.Value, trusted?.PropagateAtLaunch], ["10.0.0.0/8,172.16.0.0/12,192.168.0.0/16", true]);
});

test("the launch template: IMDSv2 with hop limit 1, encrypted gp3, detailed monitoring, the profile, the instance group only", { skip }, async () => {
  const data = (await aws.json("ec2", "describe-launch-template-versions", "--launch-template-id", physical.LaunchTemplate!)).LaunchTemplateVersions[0].LaunchTemplateData;
  assert.equal(data.InstanceType, "t3.small");
  assert.equal(data.MetadataOptions.HttpTokens, "required");
  assert.equal(data.MetadataOptions.HttpPutResponseHopLimit, 1);
  assert.deepEqual(data.BlockDeviceMappings.map((m: any) => [m.Ebs.VolumeType, m.Ebs.Encrypted]), [["gp3", true]]);
  assert.equal(data.Monitoring.Enabled, true);
  assert.deepEqual(data.SecurityGroupIds, [physical.InstanceSecurityGroup]);
  assert.equal(data.KeyName, undefined);
});

test("the user data CloudFormation rendered carries this stack's values, the launcher byte for byte, and passes cloud-init schema", { skip }, async (t) => {
  const data = (await aws.json("ec2", "describe-launch-template-versions", "--launch-template-id", physical.LaunchTemplate!)).LaunchTemplateVersions[0].LaunchTemplateData;
  const text = Buffer.from(data.UserData, "base64").toString("utf8");
  const document = parse(text);
  const file = (name: string) => document.write_files.find((f: any) => f.path === name).content as string;
  const config = ConfigSchema.partial().parse(JSON.parse(file("/etc/codedetect/bootstrap.json")));
  assert.deepEqual(config, {
    mode: "aws",
    image: FAKE_IMAGE,
    fileSystemId: physical.FileSystem,
    region: "eu-west-1",
    stackName: STACK,
    logicalResourceId: "AutoScalingGroup",
    targetGroupArn: physical.TargetGroup,
    logGroup: physical.LogGroup,
    autoScalingGroup: physical.AutoScalingGroup,
    lifecycleHook: "drain-before-terminate",
    launchHook: "ready-before-in-service",
    drainSeconds: 30,
  });
  assert.equal(file("/opt/codedetect/launcher.sh"), fs.readFileSync(LAUNCHER_SOURCE, "utf8"), "Fn::Sub changed the launcher (an unescaped ${…}?)");
  const which = await execa("cloud-init", ["--version"], { reject: false });
  if (which.exitCode !== 0 && process.env.CI !== "true") return t.skip("cloud-init not installed: apt-get install -y --no-install-recommends cloud-init");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ud-moto-"));
  fs.writeFileSync(path.join(dir, "user-data"), text);
  const schema = await execa("cloud-init", ["schema", "-c", path.join(dir, "user-data")], { reject: false });
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(schema.exitCode, 0, `${schema.stdout}${schema.stderr}`);
});

test("the target group and load balancer: /api/health every 10 s, 2 and 2; HTTPS with the operator's certificate (no Route 53) forwards to it, HTTP redirects", { skip }, async () => {
  const tg = (await aws.json("elbv2", "describe-target-groups", "--target-group-arns", physical.TargetGroup!)).TargetGroups[0];
  assert.deepEqual([tg.Protocol, tg.Port, tg.HealthCheckPath, tg.HealthCheckIntervalSeconds, tg.HealthCheckTimeoutSeconds, tg.HealthyThresholdCount, tg.UnhealthyThresholdCount, tg.Matcher.HttpCode], ["HTTP", 5000, "/api/health", 10, 5, 2, 2, "200"]);
  const listeners = (await aws.json("elbv2", "describe-listeners", "--load-balancer-arn", physical.LoadBalancer!)).Listeners;
  const byPort = Object.fromEntries(listeners.map((l: any) => [l.Port, l]));
  assert.deepEqual(Object.keys(byPort).sort(), ["443", "80"]);
  assert.deepEqual([byPort[443].Protocol, byPort[443].SslPolicy, byPort[443].Certificates.map((c: any) => c.CertificateArn), byPort[443].DefaultActions[0].Type, byPort[443].DefaultActions[0].TargetGroupArn], ["HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06", [certificateArn], "forward", physical.TargetGroup]);
  assert.deepEqual([byPort[80].Protocol, byPort[80].DefaultActions[0].Type, byPort[80].DefaultActions[0].RedirectConfig.Protocol, byPort[80].DefaultActions[0].RedirectConfig.StatusCode], ["HTTP", "redirect", "HTTPS", "HTTP_301"]);
  assert.equal(physical.Certificate, undefined, "no certificate created: the operator's is used");
});

test("security groups: the world reaches ports 80 and 443 of the load balancer only; instances only from it; EFS only from instances", { skip }, async () => {
  const groups = (await aws.json("ec2", "describe-security-groups", "--group-ids", physical.LoadBalancerSecurityGroup!, physical.InstanceSecurityGroup!, physical.FileSystemSecurityGroup!)).SecurityGroups;
  const ingress = (id: string) => groups.find((g: any) => g.GroupId === id).IpPermissions.map((p: any) => [p.FromPort, p.ToPort, ...p.IpRanges.map((r: any) => r.CidrIp), ...p.UserIdGroupPairs.map((u: any) => u.GroupId)]);
  assert.deepEqual(ingress(physical.LoadBalancerSecurityGroup!).sort(), [[443, 443, "0.0.0.0/0"], [80, 80, "0.0.0.0/0"]]);
  assert.deepEqual(ingress(physical.InstanceSecurityGroup!), [[5000, 5000, physical.LoadBalancerSecurityGroup]]);
  assert.deepEqual(ingress(physical.FileSystemSecurityGroup!), [[2049, 2049, physical.InstanceSecurityGroup]]);
});

test("the file system: encrypted, elastic throughput, automatic backups, a mount target in each instance subnet behind its group", { skip }, async () => {
  const fsDescription = (await aws.json("efs", "describe-file-systems", "--file-system-id", physical.FileSystem!)).FileSystems[0];
  assert.equal(fsDescription.Encrypted, true);
  assert.equal(fsDescription.ThroughputMode, "elastic");
  assert.equal((await aws.json("efs", "describe-backup-policy", "--file-system-id", physical.FileSystem!)).BackupPolicy.Status, "ENABLED");
  const targets = (await aws.json("efs", "describe-mount-targets", "--file-system-id", physical.FileSystem!)).MountTargets;
  assert.deepEqual(targets.map((m: any) => m.SubnetId).sort(), [network.instanceA, network.instanceB].sort());
  for (const target of targets) {
    const groups = (await aws.json("efs", "describe-mount-target-security-groups", "--mount-target-id", target.MountTargetId)).SecurityGroups;
    assert.deepEqual(groups, [physical.FileSystemSecurityGroup]);
  }
});

test("the role: signal on this stack, lifecycle on this group, registration with this target group, EFS on this file system, logs to this group", { skip }, async () => {
  const policies = await aws.json("iam", "list-role-policies", "--role-name", physical.InstanceRole!);
  const document = (await aws.json("iam", "get-role-policy", "--role-name", physical.InstanceRole!, "--policy-name", policies.PolicyNames[0])).PolicyDocument;
  // moto returns the policy of a CloudFormation-made role as Python's repr of the document; Python reads it back.
  const parsed = typeof document === "string" ? JSON.parse(String((await execa("python3", ["-c", "import ast,json,sys; print(json.dumps(ast.literal_eval(sys.stdin.read())))"], { input: document })).stdout)) : document;
  assert.equal(parsed.Version, "2012-10-17", "the policy version reached the service as a string (YAML 1.1 readers would make 2012-10-17 a date)");
  const statements = parsed.Statement.filter(Boolean);
  const resource = (sid: string) => statements.find((s: any) => s.Sid === sid)?.Resource;
  assert.equal(resource("SignalThisStack"), physical.StackId);
  assert.equal(resource("RegisterWithThisTargetGroup"), physical.TargetGroup);
  assert.match(resource("LifecycleAndHealthOfThisGroup"), new RegExp(`^arn:aws:autoscaling:eu-west-1:\\d{12}:autoScalingGroup:\\*:autoScalingGroupName/${STACK}-instances$`));
  assert.match(resource("MountThisFileSystem"), new RegExp(`^arn:aws:elasticfilesystem:eu-west-1:\\d{12}:file-system/${physical.FileSystem}$`));
  assert.match(resource("LogsToItsOwnGroup"), new RegExp(`^arn:aws:logs:eu-west-1:\\d{12}:log-group:/codedetect/${STACK}`));
  assert.equal(resource("PullTheImage"), undefined, "no ECR statement without EcrRepositoryName");
  for (const statement of statements.filter((s: any) => s.Resource === "*")) assert.equal(statement.Sid, "ReadsWithoutResourceLevelPermissions");
});

test("the log group keeps the chosen retention; the topic exists; the dashboard shows this load balancer, target group and file system", { skip }, async () => {
  const logGroups = (await aws.json("logs", "describe-log-groups", "--log-group-name-prefix", `/codedetect/${STACK}`)).logGroups;
  assert.deepEqual(logGroups.map((g: any) => [g.logGroupName, g.retentionInDays]), [[`/codedetect/${STACK}`, 14]]);
  const topics = (await aws.json("sns", "list-topics")).Topics.map((t: any) => t.TopicArn);
  assert.ok(topics.includes(physical.AlertTopic), `${physical.AlertTopic} not in ${topics.join(", ")}`);
  const body = JSON.parse((await aws.json("cloudwatch", "get-dashboard", "--dashboard-name", `${STACK}-codedetect`)).DashboardBody);
  const metrics = JSON.stringify(body.widgets.map((w: any) => w.properties.metrics));
  // The alarms use the same derived names (Fn::Select over the ARNs); here they are checked against the real ARNs.
  assert.ok(metrics.includes(`"${physical.LoadBalancer!.split("loadbalancer/")[1]}"`), metrics);
  assert.ok(metrics.includes(`"${physical.TargetGroup!.split(":")[5]}"`) && physical.TargetGroup!.split(":")[5]!.startsWith("targetgroup/"), metrics);
  assert.ok(metrics.includes(`"${physical.FileSystem}"`));
  assert.deepEqual(body.widgets.map((w: any) => w.properties.title), ["Requests", "Target response time (p95)", "Healthy and unhealthy hosts", "CPU", "EFS storage (bytes)", "EFS throughput (bytes)"]);
});

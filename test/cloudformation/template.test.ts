// The committed template is the generator's output, cfn-lint finds nothing in it, and it keeps the security rules.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { execa } from "execa";
import { parse, stringify } from "yaml";
import { templateYaml } from "../../cloudformation/template/index.ts";
import { brokenRule } from "../../scripts/aws/template-rules.ts";
import { securityFindings } from "./security-rules.ts";
import { parseTrustedProxies } from "../../server/http/client-address.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const TEMPLATE = path.join(ROOT, "cloudformation/codedetect.yaml");
const committed = () => fs.readFileSync(TEMPLATE, "utf8");
const load = () => parse(committed()) as Record<string, any>;

test("the committed template is exactly what the generator writes", async () => {
  assert.equal(committed(), templateYaml(), "cloudformation/codedetect.yaml is stale: run npm run build:template and commit it");
  const check = await execa("node", ["scripts/build-template.ts", "--check"], { cwd: ROOT, reject: false });
  assert.equal(check.exitCode, 0, String(check.stderr));
});

test("build:template --check fails on a hand-edited template, naming the file and the fix", async () => {
  const copy = fs.mkdtempSync(path.join(os.tmpdir(), "cfn-check-"));
  try {
    fs.cpSync(path.join(ROOT, "cloudformation"), path.join(copy, "cloudformation"), { recursive: true });
    fs.cpSync(path.join(ROOT, "bootstrap"), path.join(copy, "bootstrap"), { recursive: true });
    fs.cpSync(path.join(ROOT, "compose"), path.join(copy, "compose"), { recursive: true }); // the agent's config imports the stack model
    fs.cpSync(path.join(ROOT, "scripts"), path.join(copy, "scripts"), { recursive: true });
    fs.cpSync(path.join(ROOT, "server"), path.join(copy, "server"), { recursive: true }); // the idle timeout and the trusted-proxy parser are the server's
    fs.cpSync(path.join(ROOT, "compose"), path.join(copy, "compose"), { recursive: true });
    fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(copy, "node_modules"));
    fs.copyFileSync(path.join(ROOT, "package.json"), path.join(copy, "package.json"));
    fs.appendFileSync(path.join(copy, "cloudformation/codedetect.yaml"), "# edited by hand\n");
    const check = await execa("node", ["scripts/build-template.ts", "--check"], { cwd: copy, reject: false });
    assert.equal(check.exitCode, 1);
    assert.match(String(check.stderr), /codedetect\.yaml differs from the generator's output; run npm run build:template/);
  } finally {
    fs.rmSync(copy, { recursive: true, force: true });
  }
});

test("cfn-lint reports nothing on the committed template, and does report a broken copy", { timeout: 180_000 }, async () => {
  const clean = await execa("cfn-lint", [TEMPLATE], { reject: false });
  assert.notEqual(clean.code, "ENOENT", "cfn-lint is not installed: pip install cfn-lint (1.51 is the version these rules were checked with)");
  assert.equal(clean.exitCode, 0, `cfn-lint found:\n${clean.stdout}${clean.stderr}`);
  assert.equal(String(clean.stdout).trim(), "");
  // The same linter on a copy with a misspelt property: proves the run above really checked something.
  const broken = load();
  broken.Resources.TargetGroup.Properties.HealthCheckIntervalSecs = 10;
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "cfn-lint-")), "broken.yaml");
  fs.writeFileSync(file, stringify(broken, { lineWidth: 0 }));
  const dirty = await execa("cfn-lint", [file], { reject: false });
  fs.rmSync(path.dirname(file), { recursive: true, force: true });
  assert.equal(dirty.exitCode, 2);
  assert.match(String(dirty.stdout), /HealthCheckIntervalSecs/);
});

test("the committed template keeps every security rule", () => {
  assert.deepEqual(securityFindings(load()), []);
});

test("the security checker catches each rule broken on purpose", () => {
  const cases: [string, (t: Record<string, any>) => void, RegExp][] = [
    ["SSH from anywhere", (t) => t.Resources.InstanceSecurityGroup.Properties.SecurityGroupIngress = [{ IpProtocol: "tcp", FromPort: 22, ToPort: 22, CidrIp: "0.0.0.0/0" }], /SSH \(22\) reachable/],
    ["instances open to the world", (t) => t.Resources.InstancesFromLoadBalancer.Properties = { ...t.Resources.InstancesFromLoadBalancer.Properties, SourceSecurityGroupId: undefined, CidrIp: "0.0.0.0/0" }, /world ingress on 5000-5000/],
    ["IMDSv1", (t) => t.Resources.LaunchTemplate.Properties.LaunchTemplateData.MetadataOptions.HttpTokens = "optional", /IMDSv2 not required/],
    ["IMDS reachable from containers", (t) => t.Resources.LaunchTemplate.Properties.LaunchTemplateData.MetadataOptions.HttpPutResponseHopLimit = 2, /IMDS hop limit is 2, not 1/],
    ["unencrypted root volume", (t) => t.Resources.LaunchTemplate.Properties.LaunchTemplateData.BlockDeviceMappings[0].Ebs.Encrypted = false, /unencrypted volume/],
    ["EFS without TLS", (t) => t.Resources.FileSystem.Properties.FileSystemPolicy.Statement.shift(), /refuse transport without TLS/],
    ["EFS unencrypted", (t) => t.Resources.FileSystem.Properties.Encrypted = false, /not encrypted at rest/],
    ["a 2016 TLS policy", (t) => t.Resources.HttpsListener.Properties.SslPolicy = "ELBSecurityPolicy-2016-08", /not a TLS 1\.3 policy/],
    ["no redirect", (t) => t.Resources.HttpListener.Properties.DefaultActions = [{ Type: "forward", TargetGroupArn: { Ref: "TargetGroup" } }], /not redirected to HTTPS/],
    ["headers kept", (t) => t.Resources.LoadBalancer.Properties.LoadBalancerAttributes.splice(1, 1), /invalid header fields not dropped/],
    ["EFS mount on any file system", (t) => t.Resources.InstanceRole.Properties.Policies[0].PolicyDocument.Statement.find((s: any) => s.Sid === "MountThisFileSystem").Resource = "*", /Resource "\*" for elasticfilesystem:ClientMount/],
    ["wildcard action", (t) => t.Resources.InstanceRole.Properties.Policies[0].PolicyDocument.Statement[0].Action = "cloudformation:*", /wildcard action cloudformation:\*/],
    ["no Session Manager", (t) => t.Resources.InstanceRole.Properties.ManagedPolicyArns = [], /no Session Manager access/],
    ["another account's stack", (t) => t.Resources.InstanceRole.Properties.Policies[0].PolicyDocument.Statement[0].Resource = "arn:aws:cloudformation:eu-west-1:123456789012:stack/other/*", /outside this stack/],
    ["database open to the world", (t) => t.Resources.DatabaseFromInstances.Properties = { ...t.Resources.DatabaseFromInstances.Properties, SourceSecurityGroupId: undefined, CidrIp: "10.0.0.0/8" }, /database reachable other than PostgreSQL from the instances/],
    ["database unencrypted", (t) => t.Resources.Database.Properties.StorageEncrypted = false, /database not encrypted at rest/],
    ["database public", (t) => t.Resources.Database.Properties.PubliclyAccessible = true, /database publicly accessible/],
    ["database in one zone", (t) => t.Resources.Database.Properties.MultiAZ = false, /database not Multi-AZ/],
    ["database password as a parameter", (t) => { delete t.Resources.Database.Properties.ManageMasterUserPassword; t.Resources.Database.Properties.MasterUserPassword = { Ref: "DbPassword" }; }, /password not managed by Secrets Manager/],
  ];
  for (const [name, breakIt, expected] of cases) {
    const template = load();
    breakIt(template);
    assert.match(securityFindings(template).join("\n"), expected, name);
  }
});

test("the template's figures: health every 10 s, 2 and 2, drain 30 s, idle above the 45 s analyze deadline, rolling one at a time", () => {
  const r = load().Resources;
  const tg = r.TargetGroup.Properties;
  assert.deepEqual([tg.HealthCheckPath, tg.HealthCheckIntervalSeconds, tg.HealthyThresholdCount, tg.UnhealthyThresholdCount], ["/api/health", 10, 2, 2]);
  assert.deepEqual(tg.TargetGroupAttributes, [{ Key: "deregistration_delay.timeout_seconds", Value: "30" }]);
  const idle = r.LoadBalancer.Properties.LoadBalancerAttributes.find((a: any) => a.Key === "idle_timeout.timeout_seconds");
  assert.ok(Number(idle.Value) > 45, `idle timeout ${idle.Value}`);
  const rolling = r.AutoScalingGroup.UpdatePolicy.AutoScalingRollingUpdate;
  assert.equal(rolling.MaxBatchSize, 1);
  assert.equal(rolling.WaitOnResourceSignals, true);
  assert.deepEqual(rolling.MinInstancesInService, { Ref: "MinSize" });
  assert.deepEqual(rolling.SuspendProcesses, ["HealthCheck", "ReplaceUnhealthy", "AZRebalance", "AlarmNotification", "ScheduledActions"]);
  assert.deepEqual(r.AutoScalingGroup.CreationPolicy.ResourceSignal.Count, { Ref: "DesiredCapacity" });
  assert.equal(r.AutoScalingGroup.Properties.HealthCheckType, "ELB");
  assert.equal(r.AutoScalingGroup.Properties.LifecycleHookSpecificationList[0].LifecycleTransition, "autoscaling:EC2_INSTANCE_TERMINATING");
  // The launching hook holds a migrating instance out of the grace period; with no heartbeat (the agent died) it is abandoned and replaced.
  assert.deepEqual(r.AutoScalingGroup.Properties.LifecycleHookSpecificationList[1], { LifecycleHookName: "ready-before-in-service", LifecycleTransition: "autoscaling:EC2_INSTANCE_LAUNCHING", HeartbeatTimeout: 300, DefaultResult: "ABANDON" });
  const alarms = Object.values(r).filter((x: any) => x.Type === "AWS::CloudWatch::Alarm").map((x: any) => x.Properties.MetricName).sort();
  assert.deepEqual(alarms, ["CPUUtilization", "CPUUtilization", "HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count", "HealthyHostCount", "NetworkOut", "StatusCheckFailed", "TargetResponseTime", "UnHealthyHostCount"]);
});

test("no healthy target alarms (UnHealthyHostCount is 0 with no target at all), and so do the load balancer's own 5xx", () => {
  const r = load().Resources;
  const none = r.NoHealthyHostAlarm.Properties;
  assert.deepEqual([none.MetricName, none.Statistic, none.ComparisonOperator, none.Threshold, none.TreatMissingData], ["HealthyHostCount", "Minimum", "LessThanThreshold", 1, "breaching"]);
  assert.deepEqual(none.Dimensions.map((d: any) => d.Name), ["TargetGroup", "LoadBalancer"]);
  const elb = r.LoadBalancer5xxAlarm.Properties;
  assert.deepEqual([elb.MetricName, elb.Statistic, elb.ComparisonOperator], ["HTTPCode_ELB_5XX_Count", "Sum", "GreaterThanThreshold"]);
  // the load balancer's own count has the LoadBalancer dimension only (no target group is involved in a 503 of its own)
  assert.deepEqual(elb.Dimensions.map((d: any) => d.Name), ["LoadBalancer"]);
  for (const alarm of [none, elb]) assert.deepEqual([alarm.AlarmActions, alarm.OKActions], [[{ Ref: "AlertTopic" }], [{ Ref: "AlertTopic" }]]);
});

test("the file system survives a stack delete and a replacement, but not a failed create (RetainExceptOnCreate)", () => {
  const fs = load().Resources.FileSystem;
  assert.equal(fs.DeletionPolicy, "RetainExceptOnCreate");
  assert.equal(fs.UpdateReplacePolicy, "Retain");
});

test("the group is created after every listener of its variant: HTTP always, HTTPS when Protocol=https", () => {
  const r = load().Resources;
  assert.ok(r.AutoScalingGroup.DependsOn.includes("ListenersReady"));
  const listeners = Object.entries(r).filter(([, x]: [string, any]) => x.Type === "AWS::ElasticLoadBalancingV2::Listener");
  assert.deepEqual(listeners.map(([name]) => name).sort(), ["HttpListener", "HttpsListener"]);
  const refs = JSON.stringify(r.ListenersReady.Metadata);
  for (const [name, listener] of listeners as [string, any][]) {
    // a conditional listener is referenced under its own condition (a DependsOn on it would fail when it is absent)
    const expected = listener.Condition ? `{"Fn::If":["${listener.Condition}",{"Ref":"${name}"}` : `{"Ref":"${name}"}`;
    assert.ok(refs.includes(expected), `${name}: ${refs}`);
  }
});

test("HTTPS uses the operator's certificate when given, else the one created for the domain; HTTP is redirected only then", () => {
  const r = load().Resources;
  assert.equal(r.HttpsListener.Condition, "UseHttps");
  assert.deepEqual(r.HttpsListener.Properties.Certificates, [{ CertificateArn: { "Fn::If": ["HasCertificateArn", { Ref: "CertificateArn" }, { Ref: "Certificate" }] } }]);
  assert.equal(r.Certificate.Condition, "CreateCertificate");
  assert.equal(r.DnsRecord.Condition, "HasDnsRecord");
  assert.equal(r.HttpsFromAnywhere.Condition, "UseHttps");
  assert.equal(load().Parameters.Protocol.Default, undefined, "plain HTTP is never the silent default");
  // the Url output follows the choice (moto's change-set path reports no outputs, so it is checked here)
  assert.deepEqual(load().Outputs.Url.Value, { "Fn::If": ["UseHttps", { "Fn::If": ["HasDomain", { "Fn::Sub": "https://${DomainName}" }, { "Fn::Sub": "https://${LoadBalancer.DNSName}" }] }, { "Fn::Sub": "http://${LoadBalancer.DNSName}" }] });
});

test("instances are told the load balancer's addresses (codedetect:trustedProxies, TRUSTED_PROXIES for the server), and only the load balancer reaches their port", () => {
  const t = load();
  const tags = t.Resources.AutoScalingGroup.Properties.Tags["Fn::If"].slice(1) as { Key: string; Value: unknown; PropagateAtLaunch: boolean }[][];
  for (const list of tags) assert.deepEqual(list.find((tag) => tag.Key === "codedetect:trustedProxies"), { Key: "codedetect:trustedProxies", Value: { Ref: "LoadBalancerCidrs" }, PropagateAtLaunch: true });
  const cidrs = t.Parameters.LoadBalancerCidrs;
  // the default is a list the agent and the server accept, and the pattern refuses what they would refuse
  assert.doesNotThrow(() => parseTrustedProxies(cidrs.Default));
  assert.match(cidrs.Default, new RegExp(cidrs.AllowedPattern));
  for (const bad of ["", "10.0.0.0", "10.0.0.0/16, 10.1.0.0/16", "fd00::/8", "vpc-123"]) assert.doesNotMatch(bad, new RegExp(cidrs.AllowedPattern), bad);
  // trusting whole private ranges is safe only while nothing but the load balancer can reach the application port
  const ingress = Object.values(t.Resources).filter((r: any) => r.Type === "AWS::EC2::SecurityGroupIngress" && r.Properties.GroupId?.Ref === "InstanceSecurityGroup");
  assert.deepEqual(ingress.map((r: any) => r.Properties.SourceSecurityGroupId), [{ Ref: "LoadBalancerSecurityGroup" }]);
  assert.equal(t.Resources.InstanceSecurityGroup.Properties.SecurityGroupIngress, undefined);
});

test("WAF (on by default) puts AWS managed rules on the load balancer; only body-inspecting rules merely count", () => {
  const t = load();
  assert.equal(t.Parameters.EnableWaf.Default, "true");
  assert.equal(t.Resources.WebAclAssociation.Condition, "UseWaf");
  assert.deepEqual(t.Resources.WebAclAssociation.Properties.ResourceArn, { Ref: "LoadBalancer" });
  const rules = t.Resources.WebAcl.Properties.Rules;
  assert.deepEqual(rules.map((r: any) => r.Statement.ManagedRuleGroupStatement.VendorName), ["AWS", "AWS", "AWS"]);
  const counted = rules.flatMap((r: any) => (r.Statement.ManagedRuleGroupStatement.RuleActionOverrides ?? []).map((o: any) => o.Name));
  assert.ok(counted.length > 0 && counted.every((name: string) => name.endsWith("_BODY")), counted.join(", "));
});

test("the template's rules refuse inconsistent HTTPS choices and MinSize = MaxSize, and accept each consistent one", () => {
  const t = load();
  const defaults = Object.fromEntries(Object.entries(t.Parameters).flatMap(([key, p]: [string, any]) => (p.Default === undefined ? [] : [[key, String(p.Default)]])));
  const check = (values: Record<string, string>) => brokenRule(t.Rules, { ...defaults, ...values });
  const cert = "arn:aws:acm:eu-west-1:111122223333:certificate/0b1c2d3e-aaaa-bbbb-cccc-0123456789ab";
  assert.equal(check({ Protocol: "http" }), null);
  assert.equal(check({ Protocol: "https", CertificateArn: cert }), null, "HTTPS without Route 53");
  assert.equal(check({ Protocol: "https", CertificateArn: cert, DomainName: "codedetect.example.com" }), null, "a name the operator points at the load balancer");
  assert.equal(check({ Protocol: "https", CertificateArn: cert, DomainName: "codedetect.example.com", HostedZoneId: "Z123" }), null);
  assert.equal(check({ Protocol: "https", DomainName: "codedetect.example.com", HostedZoneId: "Z123" }), null, "a certificate created and validated in the zone");
  assert.match(check({ Protocol: "https" })!, /^Protocol=https needs CertificateArn, or DomainName with HostedZoneId \(rule HttpsHasACertificate\)$/);
  assert.match(check({ Protocol: "https", DomainName: "codedetect.example.com" })!, /Protocol=https needs CertificateArn/);
  assert.match(check({ Protocol: "http", CertificateArn: cert })!, /^Protocol=http takes no CertificateArn, DomainName or HostedZoneId/);
  assert.match(check({ Protocol: "http", DomainName: "codedetect.example.com", HostedZoneId: "Z123" })!, /^Protocol=http takes no/);
  assert.match(check({ Protocol: "https", CertificateArn: cert, HostedZoneId: "Z123" })!, /^HostedZoneId needs DomainName/);
  assert.match(check({ Protocol: "http", MinSize: "3", MaxSize: "3" })!, /^MaxSize must be above MinSize: a rolling update adds an instance before it removes one \(rule RollingUpdateHasRoom\)$/);
  assert.equal(check({ Protocol: "http", MinSize: "3", MaxSize: "4" }), null);
});

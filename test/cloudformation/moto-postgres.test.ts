// The template with DatabaseBackend=rds-postgresql deployed into moto server with the real AWS CLI: the database, its secret, its reach, the role's read.
//
// moto (5.2) creates the RDS instance, subnet group and security groups through CloudFormation; as in moto.test.ts,
// AWS::EC2::SecurityGroupEgress is skipped by moto (checked in the template by template.test.ts). moto does not know the
// attribute GetAtt Database.MasterUserSecret.SecretArn (RDS's managed secret), so the deployed copy has that one
// attribute replaced by a stand-in ARN, and this test checks that the role, the tag and the output carry exactly it.
// moto also places the instance in the VPC's default security group whatever VPCSecurityGroups says, so the database's
// own group is checked here (its one rule) and its use by the instance in the template (template.test.ts).
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { execa } from "execa";
import { motoUnavailable, startMoto } from "../bootstrap/loopback.ts";
import { resolveConfig, tagLayer } from "../../bootstrap/config.ts";
import { cli, parameterOverrides, twoZoneNetwork, type Cli, type Network } from "./aws-cli.ts";

const TEMPLATE = path.resolve(import.meta.dirname, "../../cloudformation/codedetect.yaml");
const STACK = "codedetect-moto-pg";
const CA_SHA256 = "c".repeat(64);
const STAND_IN_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-stand-in-AbCdEf";

/** The committed template with moto's missing attribute replaced (see above); everything else byte for byte. */
function deployableCopy(): string {
  const text = fs.readFileSync(TEMPLATE, "utf8");
  // the generator writes short collections in flow style: { Fn::GetAtt: [ Database, MasterUserSecret.SecretArn ] }
  const getAtt = /\{ Fn::GetAtt: \[ Database, MasterUserSecret\.SecretArn \] \}/g;
  const replaced = text.replace(getAtt, `{ "Fn::Sub": "${STAND_IN_SECRET}" }`);
  assert.equal((text.match(getAtt) ?? []).length, 3, "the role, the instance tag and the output name the secret");
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "codedetect-cfn-")), "codedetect.yaml");
  fs.writeFileSync(file, replaced);
  return file;
}
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

test("DatabaseBackend=rds-postgresql deploys: RDS PostgreSQL Multi-AZ, encrypted, private, its password in Secrets Manager, reachable from the instances only", { skip, timeout: 300_000 }, async () => {
  const deploy = await aws.run("cloudformation", "deploy", "--stack-name", STACK, "--template-file", deployableCopy(), "--capabilities", "CAPABILITY_IAM", "--parameter-overrides",
    ...parameterOverrides(network, { DatabaseBackend: "rds-postgresql", DatabaseInstanceClass: "db.t4g.small", DatabaseCaBundleSha256: CA_SHA256 }));
  assert.equal(deploy.exitCode, 0, deploy.stderr);
  const resources = (await aws.json("cloudformation", "list-stack-resources", "--stack-name", STACK)).StackResourceSummaries as { LogicalResourceId: string; PhysicalResourceId: string }[];
  const physical = Object.fromEntries(resources.map((r) => [r.LogicalResourceId, r.PhysicalResourceId]));
  const db = (await aws.json("rds", "describe-db-instances", "--db-instance-identifier", physical.Database!)).DBInstances[0];
  assert.equal(db.Engine, "postgres");
  assert.equal(db.MultiAZ, true);
  assert.equal(db.StorageEncrypted, true);
  assert.equal(db.PubliclyAccessible, false);
  assert.equal(db.DBName, "codedetect");
  assert.deepEqual(new Set(db.DBSubnetGroup.Subnets.map((s: { SubnetIdentifier: string }) => s.SubnetIdentifier)), new Set([network.instanceA, network.instanceB]));
  const group = (await aws.json("ec2", "describe-security-groups", "--group-ids", physical.DatabaseSecurityGroup!)).SecurityGroups[0];
  assert.deepEqual(group.IpPermissions.map((p: any) => [p.FromPort, p.ToPort, p.UserIdGroupPairs.map((u: any) => u.GroupId), p.IpRanges.length]), [[5432, 5432, [physical.InstanceSecurityGroup], 0]]);
  const document = (await aws.json("iam", "get-role-policy", "--role-name", physical.InstanceRole!, "--policy-name", "codedetect-instance")).PolicyDocument;
  // moto returns the policy of a CloudFormation-made role as Python's repr of the document; Python reads it back.
  const parsed = typeof document === "string" ? JSON.parse(String((await execa("python3", ["-c", "import ast,json,sys; print(json.dumps(ast.literal_eval(sys.stdin.read())))"], { input: document })).stdout)) : document;
  const statement = parsed.Statement.filter(Boolean).find((s: { Sid: string }) => s.Sid === "ReadTheDatabaseSecret");
  assert.deepEqual(statement, { Sid: "ReadTheDatabaseSecret", Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: STAND_IN_SECRET });
  const instances = (await aws.json("autoscaling", "describe-auto-scaling-groups", "--auto-scaling-group-names", physical.AutoScalingGroup!)).AutoScalingGroups[0];
  const tags = Object.fromEntries(instances.Tags.map((t: { Key: string; Value: string }) => [t.Key, t.Value]));
  assert.equal(tags["codedetect:databaseSecretArn"], STAND_IN_SECRET);
  assert.equal(tags["codedetect:databaseEndpoint"], `${db.Endpoint.Address}:${db.Endpoint.Port}`);
  assert.equal(tags["codedetect:databaseCaSha256"], CA_SHA256);
  // the agent takes them as configuration, as it takes every codedetect:<setting> tag
  const { config } = resolveConfig(false, { tags: tagLayer(tags), file: { fileSystemId: "fs-0123456789abcdef0" } });
  assert.deepEqual([config.databaseSecretArn, config.databaseEndpoint, config.databaseCaSha256], [STAND_IN_SECRET, tags["codedetect:databaseEndpoint"], CA_SHA256]);
});

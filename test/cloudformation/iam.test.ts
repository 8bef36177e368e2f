// The instance role allows exactly the AWS calls made on an instance, each scoped to this stack: the agent's SDK commands
// and the launcher's AWS CLI calls are read from their source, so a new call without its permission (or a permission
// nothing uses any more) fails here.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { parse } from "yaml";

const ROOT = path.resolve(import.meta.dirname, "../..");
type Statement = { Sid: string; Effect: string; Action: string[]; Resource: unknown };

/** The IAM service prefix of each AWS SDK v3 client package the agent may import. */
const IAM_PREFIX: Record<string, string> = {
  cloudformation: "cloudformation",
  "auto-scaling": "autoscaling",
  "elastic-load-balancing-v2": "elasticloadbalancing",
  efs: "elasticfilesystem",
  ec2: "ec2",
  "secrets-manager": "secretsmanager",
};

/** AWS CLI commands whose IAM action is not the command's name in PascalCase. */
const CLI_ACTION: Record<string, string> = { "ecr get-login-password": "ecr:GetAuthorizationToken" };

/** Calls made by programs on the instance that are not ours to grep: each with who makes it. */
const HOST_PROGRAM_ACTIONS: Record<string, string> = {
  "logs:CreateLogStream": "Docker's awslogs driver (the agent's Compose model)",
  "logs:PutLogEvents": "Docker's awslogs driver (the agent's Compose model)",
  "ecr:BatchGetImage": "docker pull from ECR (the manifest)",
  "ecr:GetDownloadUrlForLayer": "docker pull from ECR (the layers)",
  "elasticfilesystem:ClientMount": "the EFS mount (efs-utils, IAM-checked by the file-system policy)",
  "elasticfilesystem:ClientWrite": "the EFS mount",
  "elasticfilesystem:ClientRootAccess": "the EFS mount (the agent lays out the tree as root)",
  "ec2:DescribeAvailabilityZones": "amazon-efs-utils (mount target IP fallback)",
};

/** The scope each action the agent and launcher use must have: this stack's own resource, or "*" where IAM has none. */
const TARGET_GROUP = { Ref: "TargetGroup" };
const GROUP_ARN = { "Fn::Sub": "arn:${AWS::Partition}:autoscaling:${AWS::Region}:${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/${AWS::StackName}-instances" };
const FILE_SYSTEM = { "Fn::Sub": "arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}:file-system/${FileSystem}" };
const EXPECTED_SCOPE: Record<string, unknown> = {
  "cloudformation:SignalResource": { Ref: "AWS::StackId" },
  "autoscaling:SetInstanceHealth": GROUP_ARN,
  "autoscaling:CompleteLifecycleAction": GROUP_ARN,
  "autoscaling:RecordLifecycleActionHeartbeat": GROUP_ARN,
  "elasticloadbalancing:RegisterTargets": TARGET_GROUP,
  "elasticloadbalancing:DeregisterTargets": TARGET_GROUP,
  "elasticloadbalancing:DescribeTargetHealth": "*",
  "elasticfilesystem:DescribeMountTargets": FILE_SYSTEM,
  "ec2:DescribeTags": "*",
  "ecr:GetAuthorizationToken": "*",
  // the database step (RDS only): this stack's database's own secret, nothing else
  "secretsmanager:GetSecretValue": { "Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"] },
};

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "user-data" ? [] : sourceFiles(full);
    return entry.name.endsWith(".ts") ? [full] : [];
  });
}

/** Every `new XCommand(...)` in the agent whose X comes from an @aws-sdk/client-* import, as an IAM action. */
function agentActions(files: string[]): Map<string, string> {
  const actions = new Map<string, string>();
  const imports = /(?:const\s*\{([^}]*)\}\s*=\s*await\s+import\(\s*"@aws-sdk\/client-([a-z0-9-]+)"\s*\)|import\s*\{([^}]*)\}\s*from\s*"@aws-sdk\/client-([a-z0-9-]+)")/g;
  for (const file of files) {
    const text = fs.readFileSync(file, "utf8");
    for (const match of text.matchAll(imports)) {
      const names = (match[1] ?? match[3])!.split(",").map((name) => name.trim().split(/\s+as\s+/)[0]!);
      const client = (match[2] ?? match[4])!;
      for (const name of names.filter((n) => n.endsWith("Command"))) {
        const prefix = IAM_PREFIX[client];
        assert.ok(prefix, `${path.relative(ROOT, file)} imports ${name} from @aws-sdk/client-${client}: add its IAM prefix here and its permission to the role`);
        if (new RegExp(`new\\s+${name}\\s*\\(`).test(text)) actions.set(`${prefix}:${name.slice(0, -"Command".length)}`, path.relative(ROOT, file));
      }
    }
  }
  return actions;
}

/** Every `aws <service> <command>` the launcher runs, as an IAM action. */
function launcherActions(text: string): Map<string, string> {
  const actions = new Map<string, string>();
  for (const match of text.matchAll(/^[^#\n]*?\baws\s+([a-z0-9-]+)\s+([a-z0-9-]+)/gm)) {
    const cli = `${match[1]} ${match[2]}`;
    const pascal = match[2]!.replace(/(^|-)([a-z])/g, (_, __, c: string) => c.toUpperCase());
    actions.set(CLI_ACTION[cli] ?? `${match[1]}:${pascal}`, "bootstrap/user-data/launcher.sh");
  }
  return actions;
}

function roleStatements(): Statement[] {
  const template = parse(fs.readFileSync(path.join(ROOT, "cloudformation/codedetect.yaml"), "utf8"));
  const statements = template.Resources.InstanceRole.Properties.Policies[0].PolicyDocument.Statement as unknown[];
  // The ECR pull statement sits in Fn::If [HasEcrRepository, statement, NoValue]: its statement counts.
  return statements.map((s) => ((s as Record<string, unknown>)["Fn::If"] ? ((s as Record<string, unknown[]>)["Fn::If"]![1] as Statement) : (s as Statement)));
}

const calls = () => new Map([...agentActions(sourceFiles(path.join(ROOT, "bootstrap"))), ...launcherActions(fs.readFileSync(path.join(ROOT, "bootstrap/user-data/launcher.sh"), "utf8"))]);

test("the parsers find the agent's and the launcher's calls (so the checks below are about something)", () => {
  const found = calls();
  for (const action of ["cloudformation:SignalResource", "elasticloadbalancing:RegisterTargets", "autoscaling:CompleteLifecycleAction", "ec2:DescribeTags", "ecr:GetAuthorizationToken", "secretsmanager:GetSecretValue"]) assert.ok(found.has(action), `${action} not found in ${[...found.keys()].join(", ")}`);
  // A call added to an adapter is found without anyone listing it.
  const extra = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "iam-test-")), "extra.ts");
  try {
    fs.writeFileSync(extra, 'const { S3Client, GetObjectCommand } = await import("@aws-sdk/client-ec2");\nawait client.send(new GetObjectCommand({}));\n');
    assert.ok(agentActions([extra]).has("ec2:GetObject"));
    fs.writeFileSync(extra, 'const { XCommand } = await import("@aws-sdk/client-s3");\nnew XCommand({});\n');
    assert.throws(() => agentActions([extra]), /imports XCommand from @aws-sdk\/client-s3: add its IAM prefix/);
  } finally {
    fs.rmSync(path.dirname(extra), { recursive: true, force: true });
  }
  assert.ok(launcherActions("# aws s3 cp is a comment\n  aws cloudformation signal-resource --x\n").has("cloudformation:SignalResource"));
  assert.equal(launcherActions("# aws s3 cp is a comment\n").size, 0);
});

test("every call the agent and the launcher make is allowed, on this stack's own resource (\"*\" only where IAM has no resource)", () => {
  const statements = roleStatements();
  for (const [action, where] of calls()) {
    const granting = statements.filter((s) => s.Effect === "Allow" && s.Action.includes(action));
    assert.equal(granting.length, 1, `${action} (called in ${where}) is allowed by ${granting.length} statements, not 1`);
    assert.ok(action in EXPECTED_SCOPE, `${action} (called in ${where}) has no expected scope in this test: decide which resource of this stack it is limited to`);
    assert.deepEqual(granting[0]!.Resource, EXPECTED_SCOPE[action], `${action}: scope`);
  }
});

test("the role allows nothing more: each permission is used by the agent, the launcher or a named program on the instance", () => {
  const used = calls();
  const allowed = roleStatements().flatMap((s) => s.Action);
  const unused = allowed.filter((action) => !used.has(action) && !(action in HOST_PROGRAM_ACTIONS));
  assert.deepEqual(unused, [], "permissions nothing on the instance uses");
  assert.equal(new Set(allowed).size, allowed.length, "no action granted twice");
  for (const action of Object.keys(HOST_PROGRAM_ACTIONS)) assert.ok(allowed.includes(action), `${action} (${HOST_PROGRAM_ACTIONS[action]}) is not allowed`);
});

test("the database secret's read exists only with DatabaseBackend=rds-postgresql, and names no other secret", () => {
  const template = parse(fs.readFileSync(path.join(ROOT, "cloudformation/codedetect.yaml"), "utf8"));
  const statements = template.Resources.InstanceRole.Properties.Policies[0].PolicyDocument.Statement as Record<string, unknown>[];
  const secretStatements = statements.filter((s) => JSON.stringify(s).includes("secretsmanager"));
  assert.equal(secretStatements.length, 1);
  const [condition, statement, otherwise] = secretStatements[0]!["Fn::If"] as [string, Statement, unknown];
  assert.equal(condition, "UsePostgresql");
  assert.deepEqual(template.Conditions.UsePostgresql, { "Fn::Equals": [{ Ref: "DatabaseBackend" }, "rds-postgresql"] });
  assert.deepEqual(otherwise, { Ref: "AWS::NoValue" });
  assert.deepEqual(statement.Action, ["secretsmanager:GetSecretValue"]);
  assert.deepEqual(statement.Resource, { "Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"] });
});

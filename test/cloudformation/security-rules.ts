// The template's security rules as a checker over its data: each violation one line, so a test can show it catches a broken template.
import { UNSCOPABLE_ACTIONS } from "../../cloudformation/template/compute.ts";

type Node = Record<string, unknown>;
const WORLD = new Set(["0.0.0.0/0", "::/0"]);

const resourcesOf = (template: Node) => Object.entries(template.Resources as Record<string, Node>);
/** Fn::If branches flattened, AWS::NoValue dropped. */
function branches(value: unknown): Node[] {
  if (Array.isArray(value)) return value.flatMap(branches);
  if (value && typeof value === "object") {
    const node = value as Node;
    if ("Fn::If" in node) return (node["Fn::If"] as unknown[]).slice(1).flatMap(branches);
    if ((node as { Ref?: string }).Ref === "AWS::NoValue") return [];
    return [node];
  }
  return [];
}

interface Ingress {
  where: string;
  group: unknown;
  from: number;
  to: number;
  cidr: string | undefined;
  sourceGroup: unknown;
}

function ingressRules(template: Node): Ingress[] {
  const rules: Ingress[] = [];
  for (const [name, resource] of resourcesOf(template)) {
    const props = (resource.Properties ?? {}) as Node;
    if (resource.Type === "AWS::EC2::SecurityGroup") {
      for (const rule of branches(props.SecurityGroupIngress)) rules.push({ where: name, group: { Ref: name }, from: Number(rule.FromPort ?? 0), to: Number(rule.ToPort ?? 65535), cidr: (rule.CidrIp ?? rule.CidrIpv6) as string | undefined, sourceGroup: rule.SourceSecurityGroupId });
    }
    if (resource.Type === "AWS::EC2::SecurityGroupIngress") {
      rules.push({ where: name, group: props.GroupId, from: Number(props.FromPort ?? 0), to: Number(props.ToPort ?? 65535), cidr: (props.CidrIp ?? props.CidrIpv6) as string | undefined, sourceGroup: props.SourceSecurityGroupId });
    }
  }
  return rules;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const refersToStack = (resource: unknown): boolean => {
  const text = JSON.stringify(resource);
  return /"Ref":"(AWS::StackId|[A-Z][A-Za-z]+)"|"Fn::GetAtt"|\$\{AWS::StackName\}|\$\{[A-Z][A-Za-z]+\}/.test(text) && !/"\*"$/.test(text);
};

export function securityFindings(template: Node): string[] {
  const findings: string[] = [];
  const resources = Object.fromEntries(resourcesOf(template));
  for (const rule of ingressRules(template)) {
    if (rule.from <= 22 && rule.to >= 22) findings.push(`${rule.where}: SSH (22) reachable`);
    if (rule.cidr && WORLD.has(rule.cidr)) {
      const allowed = same(rule.group, { Ref: "LoadBalancerSecurityGroup" }) && rule.from === rule.to && (rule.from === 80 || rule.from === 443);
      if (!allowed) findings.push(`${rule.where}: world ingress on ${rule.from}-${rule.to}`);
    }
    if (same(rule.group, { Ref: "InstanceSecurityGroup" }) && !same(rule.sourceGroup, { Ref: "LoadBalancerSecurityGroup" })) findings.push(`${rule.where}: instances reachable from something other than the load balancer`);
    if (same(rule.group, { Ref: "DatabaseSecurityGroup" }) && !(same(rule.sourceGroup, { Ref: "InstanceSecurityGroup" }) && rule.from === 5432 && rule.to === 5432)) findings.push(`${rule.where}: the database reachable other than PostgreSQL from the instances`);
    if (same(rule.group, { Ref: "FileSystemSecurityGroup" }) && !(same(rule.sourceGroup, { Ref: "InstanceSecurityGroup" }) && rule.from === 2049 && rule.to === 2049)) findings.push(`${rule.where}: EFS reachable other than NFS from the instances`);
  }
  for (const [name, resource] of Object.entries(resources)) {
    const props = (resource.Properties ?? {}) as Node;
    if (resource.Type === "AWS::EC2::LaunchTemplate") {
      const data = props.LaunchTemplateData as Node;
      const metadata = (data.MetadataOptions ?? {}) as Node;
      if (metadata.HttpTokens !== "required") findings.push(`${name}: IMDSv2 not required`);
      // 1: containers on a bridge network cannot reach IMDS (and so the instance role's credentials)
      if (metadata.HttpPutResponseHopLimit !== 1) findings.push(`${name}: IMDS hop limit is ${String(metadata.HttpPutResponseHopLimit ?? "unset")}, not 1 (containers could take the instance role)`);
      if ("KeyName" in data) findings.push(`${name}: an SSH key pair`);
      for (const mapping of (data.BlockDeviceMappings ?? []) as Node[]) if ((mapping.Ebs as Node | undefined)?.Encrypted !== true) findings.push(`${name}: unencrypted volume ${String(mapping.DeviceName)}`);
    }
    if (resource.Type === "AWS::EFS::FileSystem") {
      if (props.Encrypted !== true) findings.push(`${name}: EFS not encrypted at rest`);
      const policy = JSON.stringify(props.FileSystemPolicy ?? {});
      if (!/"Effect":"Deny".*"aws:SecureTransport":"false"/.test(policy)) findings.push(`${name}: EFS does not refuse transport without TLS`);
      if ((props.BackupPolicy as Node | undefined)?.Status !== "ENABLED") findings.push(`${name}: EFS without automatic backups`);
    }
    if (resource.Type === "AWS::RDS::DBInstance") {
      if (props.StorageEncrypted !== true) findings.push(`${name}: database not encrypted at rest`);
      if (props.PubliclyAccessible !== false) findings.push(`${name}: database publicly accessible`);
      if (props.MultiAZ !== true) findings.push(`${name}: database not Multi-AZ`);
      if (props.ManageMasterUserPassword !== true || "MasterUserPassword" in props) findings.push(`${name}: database password not managed by Secrets Manager`);
    }
    if (resource.Type === "AWS::ElasticLoadBalancingV2::Listener" && props.Protocol === "HTTPS" && !/^ELBSecurityPolicy-TLS13-/.test(String(props.SslPolicy))) findings.push(`${name}: TLS policy ${String(props.SslPolicy)} is not a TLS 1.3 policy`);
    if (resource.Type === "AWS::ElasticLoadBalancingV2::Listener" && props.Protocol === "HTTP") {
      const actions = JSON.stringify(props.DefaultActions);
      if (!/"Fn::If":\["UseHttps",\{"Type":"redirect","RedirectConfig":\{"Protocol":"HTTPS"/.test(actions)) findings.push(`${name}: HTTP is not redirected to HTTPS when a certificate exists`);
    }
    if (resource.Type === "AWS::ElasticLoadBalancingV2::LoadBalancer") {
      const attributes = (props.LoadBalancerAttributes ?? []) as Node[];
      if (!attributes.some((a) => a.Key === "routing.http.drop_invalid_header_fields.enabled" && a.Value === "true")) findings.push(`${name}: invalid header fields not dropped`);
    }
    if (resource.Type === "AWS::IAM::Role") {
      if (!JSON.stringify(props.ManagedPolicyArns ?? []).includes("policy/AmazonSSMManagedInstanceCore")) findings.push(`${name}: no Session Manager access (AmazonSSMManagedInstanceCore)`);
      for (const policy of (props.Policies ?? []) as Node[]) {
        for (const statement of branches((policy.PolicyDocument as Node).Statement)) {
          const actions = [statement.Action].flat() as string[];
          if (statement.Effect !== "Allow") continue;
          for (const action of actions) if (action.includes("*")) findings.push(`${name}: wildcard action ${action}`);
          if (statement.Resource === "*") {
            const broad = actions.filter((action) => !(UNSCOPABLE_ACTIONS as readonly string[]).includes(action));
            if (broad.length) findings.push(`${name}: Resource "*" for ${broad.join(", ")}, which support resource-level permissions`);
          } else if (![statement.Resource].flat().every(refersToStack)) {
            findings.push(`${name}: statement ${String(statement.Sid)} names resources outside this stack`);
          }
        }
      }
    }
  }
  return findings;
}

// The template's parameters, conditions and rules: what an operator chooses, and what CloudFormation refuses before it creates anything.
import { equals, not, ref, type Json } from "./intrinsics.ts";
import { AL2023_SSM_PARAMETER, IMAGE_PATTERN, PRIVATE_IPV4_RANGES } from "./settings.ts";

export const parameters: Record<string, Json> = {
  VpcId: { Type: "AWS::EC2::VPC::Id", Description: "The VPC of the instances, the load balancer and the file system." },
  InstanceSubnetA: { Type: "AWS::EC2::Subnet::Id", Description: "Instances and an EFS mount target in the first zone (private subnets with a route to ECR and the AL2023 repositories)." },
  InstanceSubnetB: { Type: "AWS::EC2::Subnet::Id", Description: "Instances and an EFS mount target in a second zone (EFS refuses two mount targets in one zone, so two zones are enforced)." },
  LoadBalancerSubnets: { Type: "List<AWS::EC2::Subnet::Id>", Description: "Public subnets for the load balancer, at least two in two zones (the load balancer refuses fewer)." },
  LoadBalancerCidrs: {
    Type: "String",
    Default: PRIVATE_IPV4_RANGES,
    Description:
      "Where the load balancer connects from: the VPC's CIDR or the load balancer subnets' CIDRs, comma-separated. Only from these does the server take the client from X-Forwarded-For (each client's fair share); otherwise every client counts as the balancer. The default covers every private range; a VPC with other addresses must set it.",
    AllowedPattern: "^(\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2}(,(\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2})*$",
    ConstraintDescription: "must be comma-separated IPv4 CIDRs without spaces, e.g. 10.0.0.0/16",
  },
  ImageUri: {
    Type: "String",
    Description: "The application image as repository:tag@sha256:<digest>; instances run exactly this digest.",
    AllowedPattern: IMAGE_PATTERN,
    ConstraintDescription: "must be repository:tag@sha256:<64 lowercase hex digits>, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/codedetect:3.0.0@sha256:…",
  },
  EcrRepositoryName: {
    Type: "String",
    Default: "",
    Description: "The ECR repository (in this account and region) holding the image; instances may pull from it only. Empty: the image is in another registry.",
    AllowedPattern: "^$|^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$",
  },
  InstanceType: { Type: "String", Default: "t3.micro", AllowedValues: ["t3.micro", "t3.small", "t3.medium", "t3.large", "t3a.micro", "t3a.small", "t3a.medium", "m7i.large"] },
  MinSize: { Type: "Number", Default: 2, MinValue: 2, MaxValue: 20, Description: "Instances kept at all times (2: one per zone)." },
  DesiredCapacity: { Type: "Number", Default: 2, MinValue: 2, MaxValue: 20 },
  MaxSize: { Type: "Number", Default: 4, MinValue: 3, MaxValue: 20, Description: "Above MinSize: a rolling update adds one new instance before it removes an old one." },
  DomainName: {
    Type: "String",
    Default: "",
    Description: "Optional DNS name (e.g. codedetect.example.com): an ACM certificate validated by DNS, HTTPS, and an alias record. Empty: HTTP only.",
    AllowedPattern: "^$|^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$",
  },
  HostedZoneId: { Type: "String", Default: "", Description: "The Route 53 hosted zone of DomainName (required with DomainName).", AllowedPattern: "^$|^Z[A-Z0-9]{1,31}$" },
  AlertEmail: { Type: "String", Default: "", Description: "Optional address subscribed to the alarm topic (confirm the e-mail AWS sends).", AllowedPattern: "^$|^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$" },
  EnableWaf: { Type: "String", Default: "true", AllowedValues: ["true", "false"], Description: "AWS WAF with AWS managed rules on the load balancer." },
  LogRetentionDays: { Type: "Number", Default: 30, AllowedValues: [7, 14, 30, 60, 90, 180, 365] },
  LatestAmiId: {
    Type: "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
    Default: AL2023_SSM_PARAMETER,
    Description: "Amazon Linux 2023 through its public SSM parameter (the newest AMI at each deploy).",
  },
};

export const conditions: Record<string, Json> = {
  HasDomain: not(equals(ref("DomainName"), "")),
  HasAlertEmail: not(equals(ref("AlertEmail"), "")),
  UseWaf: equals(ref("EnableWaf"), "true"),
  HasEcrRepository: not(equals(ref("EcrRepositoryName"), "")),
};

export const rules: Record<string, Json> = {
  DomainNeedsHostedZone: {
    RuleCondition: not(equals(ref("DomainName"), "")),
    Assertions: [{ Assert: not(equals(ref("HostedZoneId"), "")), AssertDescription: "HostedZoneId is required when DomainName is set" }],
  },
  SubnetsInTheVpc: {
    Assertions: [
      { Assert: { "Fn::EachMemberEquals": [{ "Fn::ValueOfAll": ["AWS::EC2::Subnet::Id", "VpcId"] }, ref("VpcId")] }, AssertDescription: "every subnet must be in VpcId" },
      { Assert: not(equals(ref("InstanceSubnetA"), ref("InstanceSubnetB"))), AssertDescription: "InstanceSubnetA and InstanceSubnetB must be two subnets (in two zones)" },
    ],
  },
};

/** Parameter groups for the console. */
export const metadata: Json = {
  "AWS::CloudFormation::Interface": {
    ParameterGroups: [
      { Label: { default: "Network" }, Parameters: ["VpcId", "InstanceSubnetA", "InstanceSubnetB", "LoadBalancerSubnets", "LoadBalancerCidrs"] },
      { Label: { default: "Application" }, Parameters: ["ImageUri", "EcrRepositoryName", "InstanceType", "MinSize", "DesiredCapacity", "MaxSize", "LatestAmiId"] },
      { Label: { default: "Database" }, Parameters: ["DatabaseBackend", "DatabaseInstanceClass", "DatabaseCaBundleSha256"] },
      { Label: { default: "DNS and TLS (optional)" }, Parameters: ["DomainName", "HostedZoneId"] },
      { Label: { default: "Operations" }, Parameters: ["AlertEmail", "EnableWaf", "LogRetentionDays"] },
    ],
  },
};


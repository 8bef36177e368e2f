// The template's parameters, conditions and rules: what an operator chooses, and what CloudFormation refuses before it creates anything.
import { and, equals, not, ref, type Json } from "./intrinsics.ts";
import { AL2023_SSM_PARAMETER, IMAGE_PATTERN } from "./settings.ts";

export const parameters: Record<string, Json> = {
  VpcId: { Type: "AWS::EC2::VPC::Id", Description: "The VPC of the instances, the load balancer and the file system." },
  InstanceSubnetA: { Type: "AWS::EC2::Subnet::Id", Description: "Instances and an EFS mount target in the first zone (private subnets with a route to ECR and the AL2023 repositories)." },
  InstanceSubnetB: { Type: "AWS::EC2::Subnet::Id", Description: "Instances and an EFS mount target in a second zone (EFS refuses two mount targets in one zone, so two zones are enforced)." },
  LoadBalancerSubnets: { Type: "List<AWS::EC2::Subnet::Id>", Description: "Public subnets for the load balancer, at least two in two zones (the load balancer refuses fewer)." },
  ImageUri: {
    Type: "String",
    Description: "The application image as repository[:tag]@sha256:<digest> (the tag is optional); instances run exactly this digest.",
    AllowedPattern: IMAGE_PATTERN,
    ConstraintDescription: "must be repository[:tag]@sha256:<64 lowercase hex digits>, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/codedetect:3.0.0@sha256:… or …/codedetect@sha256:…",
  },
  EcrRepositoryName: {
    Type: "String",
    Default: "",
    Description: "The ECR repository (in this account and region) holding the image; instances may pull from it only. Empty: the image is in another registry.",
    AllowedPattern: "^$|^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$",
  },
  InstanceType: { Type: "String", Default: "t3.micro", AllowedValues: ["t3.micro", "t3.small", "t3.medium", "t3.large", "t3a.micro", "t3a.small", "t3a.medium", "m7i.large"] },
  MinSize: { Type: "Number", Default: 2, MinValue: 2, MaxValue: 19, Description: "Instances kept at all times, also during a rolling update (2: one per zone)." },
  DesiredCapacity: { Type: "Number", Default: 2, MinValue: 2, MaxValue: 20 },
  MaxSize: { Type: "Number", Default: 4, MinValue: 3, MaxValue: 20, Description: "Above MinSize: a rolling update adds an instance before it removes one." },
  Protocol: {
    Type: "String",
    AllowedValues: ["https", "http"],
    Description: "https (CertificateArn, or DomainName with HostedZoneId) or http (plain HTTP, no certificate). No default.",
  },
  CertificateArn: {
    Type: "String",
    Default: "",
    Description: "An ACM certificate in this region (no Route 53 needed). Empty with https: one is made for DomainName.",
    AllowedPattern: "^$|^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$",
  },
  DomainName: {
    Type: "String",
    Default: "",
    Description: "https only: the service's name (codedetect.example.com). With HostedZoneId: an alias record there.",
    AllowedPattern: "^$|^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$",
  },
  HostedZoneId: { Type: "String", Default: "", Description: "The Route 53 zone of DomainName (optional with CertificateArn).", AllowedPattern: "^$|^Z[A-Z0-9]{1,31}$" },
  AlertEmail: { Type: "String", Default: "", Description: "Optional address subscribed to the alarm topic (confirm the e-mail AWS sends).", AllowedPattern: "^$|^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$" },
  EnableWaf: { Type: "String", Default: "true", AllowedValues: ["true", "false"], Description: "AWS WAF with AWS managed rules on the load balancer." },
  LogRetentionDays: { Type: "Number", Default: 30, AllowedValues: [7, 14, 30, 60, 90, 180, 365] },
  LatestAmiId: {
    Type: "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>",
    Default: AL2023_SSM_PARAMETER,
    Description: "Amazon Linux 2023 through its public SSM parameter (the newest AMI at each deploy).",
  },
};

const isSet = (parameter: string): Json => not(equals(ref(parameter), ""));
const isEmpty = (parameter: string): Json => equals(ref(parameter), "");

export const conditions: Record<string, Json> = {
  UseHttps: equals(ref("Protocol"), "https"),
  /** https without CertificateArn: the rules guarantee DomainName and HostedZoneId, so ACM validates by DNS there. */
  CreateCertificate: and(equals(ref("Protocol"), "https"), isEmpty("CertificateArn")),
  HasCertificateArn: isSet("CertificateArn"),
  HasDomain: isSet("DomainName"),
  HasDnsRecord: and(isSet("DomainName"), isSet("HostedZoneId")),
  HasAlertEmail: isSet("AlertEmail"),
  UseWaf: equals(ref("EnableWaf"), "true"),
  HasEcrRepository: isSet("EcrRepositoryName"),
};

/** What each Protocol needs, as the rules word it (scripts/aws/deploy-plan.ts says the same before CloudFormation is asked). */
export const PROTOCOL_RULES = {
  https: "Protocol=https needs CertificateArn, or DomainName with HostedZoneId",
  http: "Protocol=http takes no CertificateArn, DomainName or HostedZoneId (they imply HTTPS)",
  zone: "HostedZoneId needs DomainName",
  sizes: "MaxSize must be above MinSize: a rolling update adds an instance before it removes one",
} as const;

export const rules: Record<string, Json> = {
  HttpsHasACertificate: {
    RuleCondition: equals(ref("Protocol"), "https"),
    Assertions: [{ Assert: { "Fn::Or": [isSet("CertificateArn"), and(isSet("DomainName"), isSet("HostedZoneId"))] }, AssertDescription: PROTOCOL_RULES.https }],
  },
  HttpIsPlain: {
    RuleCondition: equals(ref("Protocol"), "http"),
    Assertions: [{ Assert: and(isEmpty("CertificateArn"), isEmpty("DomainName"), isEmpty("HostedZoneId")), AssertDescription: PROTOCOL_RULES.http }],
  },
  ZoneNeedsDomain: {
    RuleCondition: isSet("HostedZoneId"),
    Assertions: [{ Assert: isSet("DomainName"), AssertDescription: PROTOCOL_RULES.zone }],
  },
  // Rules compare strings only: MaxSize < MinSize is refused by Auto Scaling itself (and by npm run deploy before).
  RollingUpdateHasRoom: {
    Assertions: [{ Assert: not(equals(ref("MinSize"), ref("MaxSize"))), AssertDescription: PROTOCOL_RULES.sizes }],
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
      { Label: { default: "Network" }, Parameters: ["VpcId", "InstanceSubnetA", "InstanceSubnetB", "LoadBalancerSubnets"] },
      { Label: { default: "Application" }, Parameters: ["ImageUri", "EcrRepositoryName", "InstanceType", "MinSize", "DesiredCapacity", "MaxSize", "LatestAmiId"] },
      { Label: { default: "Database" }, Parameters: ["DatabaseBackend", "DatabaseInstanceClass", "DatabaseCaBundleSha256"] },
      { Label: { default: "HTTPS" }, Parameters: ["Protocol", "CertificateArn", "DomainName", "HostedZoneId"] },
      { Label: { default: "Operations" }, Parameters: ["AlertEmail", "EnableWaf", "LogRetentionDays"] },
    ],
  },
};


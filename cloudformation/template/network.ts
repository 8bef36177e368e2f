// The edge: security groups, the load balancer with its listeners and target group, the certificate, DNS and WAF.
import { getAtt, ifCondition, nameTag, ref, sub, type Resource } from "./intrinsics.ts";
import * as S from "./settings.ts";

const WORLD = "0.0.0.0/0";

export const securityGroups: Record<string, Resource> = {
  LoadBalancerSecurityGroup: {
    Type: "AWS::EC2::SecurityGroup",
    Properties: {
      GroupDescription: "CodeDetect load balancer: HTTP and HTTPS from anywhere",
      VpcId: ref("VpcId"),
      SecurityGroupIngress: [
        { IpProtocol: "tcp", FromPort: 80, ToPort: 80, CidrIp: WORLD, Description: "HTTP (redirected to HTTPS when a domain is set)" },
      ],
      // Replaces the default allow-all egress: the load balancer only talks to the instances (rule below).
      SecurityGroupEgress: [{ IpProtocol: "icmp", FromPort: 252, ToPort: 86, CidrIp: "255.255.255.255/32", Description: "no egress except the rules below" }],
      Tags: nameTag("lb"),
    },
  },
  InstanceSecurityGroup: {
    Type: "AWS::EC2::SecurityGroup",
    Properties: {
      GroupDescription: "CodeDetect instances: the application port from the load balancer only; no SSH (Session Manager instead)",
      VpcId: ref("VpcId"),
      SecurityGroupEgress: [{ IpProtocol: "tcp", FromPort: 443, ToPort: 443, CidrIp: WORLD, Description: "HTTPS: ECR, OS repositories, AWS APIs" }],
      Tags: nameTag("instances"),
    },
  },
  FileSystemSecurityGroup: {
    Type: "AWS::EC2::SecurityGroup",
    Properties: {
      GroupDescription: "CodeDetect EFS: NFS from the instances only",
      VpcId: ref("VpcId"),
      SecurityGroupEgress: [{ IpProtocol: "icmp", FromPort: 252, ToPort: 86, CidrIp: "255.255.255.255/32", Description: "no egress" }],
      Tags: nameTag("efs"),
    },
  },
  // A resource of its own rather than an Fn::If in the list above: one rule, present only with HTTPS.
  HttpsFromAnywhere: {
    Type: "AWS::EC2::SecurityGroupIngress",
    Condition: "UseHttps",
    Properties: { GroupId: ref("LoadBalancerSecurityGroup"), IpProtocol: "tcp", FromPort: 443, ToPort: 443, CidrIp: WORLD, Description: "HTTPS" },
  },
  LoadBalancerToInstances: {
    Type: "AWS::EC2::SecurityGroupEgress",
    Properties: { GroupId: ref("LoadBalancerSecurityGroup"), IpProtocol: "tcp", FromPort: S.APP_PORT, ToPort: S.APP_PORT, DestinationSecurityGroupId: ref("InstanceSecurityGroup"), Description: "requests and health checks to the instances" },
  },
  InstancesFromLoadBalancer: {
    Type: "AWS::EC2::SecurityGroupIngress",
    Properties: { GroupId: ref("InstanceSecurityGroup"), IpProtocol: "tcp", FromPort: S.APP_PORT, ToPort: S.APP_PORT, SourceSecurityGroupId: ref("LoadBalancerSecurityGroup"), Description: "the load balancer only" },
  },
  InstancesToFileSystem: {
    Type: "AWS::EC2::SecurityGroupEgress",
    Properties: { GroupId: ref("InstanceSecurityGroup"), IpProtocol: "tcp", FromPort: 2049, ToPort: 2049, DestinationSecurityGroupId: ref("FileSystemSecurityGroup"), Description: "NFS over TLS to EFS" },
  },
  FileSystemFromInstances: {
    Type: "AWS::EC2::SecurityGroupIngress",
    Properties: { GroupId: ref("FileSystemSecurityGroup"), IpProtocol: "tcp", FromPort: 2049, ToPort: 2049, SourceSecurityGroupId: ref("InstanceSecurityGroup"), Description: "NFS from the instances only" },
  },
};

export const loadBalancing: Record<string, Resource> = {
  LoadBalancer: {
    Type: "AWS::ElasticLoadBalancingV2::LoadBalancer",
    Properties: {
      Type: "application",
      Scheme: "internet-facing",
      Subnets: ref("LoadBalancerSubnets"),
      SecurityGroups: [ref("LoadBalancerSecurityGroup")],
      LoadBalancerAttributes: [
        { Key: "idle_timeout.timeout_seconds", Value: String(S.IDLE_TIMEOUT_SECONDS) },
        { Key: "routing.http.drop_invalid_header_fields.enabled", Value: "true" },
        { Key: "routing.http.desync_mitigation_mode", Value: "strictest" },
        { Key: "deletion_protection.enabled", Value: "false" },
      ],
      Tags: nameTag("lb"),
    },
  },
  TargetGroup: {
    Type: "AWS::ElasticLoadBalancingV2::TargetGroup",
    Properties: {
      VpcId: ref("VpcId"),
      Protocol: "HTTP",
      Port: S.APP_PORT,
      TargetType: "instance",
      HealthCheckEnabled: true,
      HealthCheckProtocol: "HTTP",
      HealthCheckPath: "/api/health",
      HealthCheckIntervalSeconds: S.HEALTH_INTERVAL_SECONDS,
      HealthCheckTimeoutSeconds: S.HEALTH_TIMEOUT_SECONDS,
      HealthyThresholdCount: S.HEALTHY_THRESHOLD,
      UnhealthyThresholdCount: S.UNHEALTHY_THRESHOLD,
      Matcher: { HttpCode: "200" },
      TargetGroupAttributes: [{ Key: "deregistration_delay.timeout_seconds", Value: String(S.DRAIN_SECONDS) }],
      Tags: nameTag("targets"),
    },
  },
  HttpListener: {
    Type: "AWS::ElasticLoadBalancingV2::Listener",
    Properties: {
      LoadBalancerArn: ref("LoadBalancer"),
      Port: 80,
      Protocol: "HTTP",
      DefaultActions: [
        ifCondition(
          "UseHttps",
          { Type: "redirect", RedirectConfig: { Protocol: "HTTPS", Port: "443", Host: "#{host}", Path: "/#{path}", Query: "#{query}", StatusCode: "HTTP_301" } },
          { Type: "forward", TargetGroupArn: ref("TargetGroup") },
        ),
      ],
    },
  },
  HttpsListener: {
    Type: "AWS::ElasticLoadBalancingV2::Listener",
    Condition: "UseHttps",
    Properties: {
      LoadBalancerArn: ref("LoadBalancer"),
      Port: 443,
      Protocol: "HTTPS",
      SslPolicy: S.TLS_POLICY,
      // the operator's certificate when given (no Route 53 needed), else the one this stack creates
      Certificates: [{ CertificateArn: ifCondition("HasCertificateArn", ref("CertificateArn"), ref("Certificate")) }],
      DefaultActions: [{ Type: "forward", TargetGroupArn: ref("TargetGroup") }],
    },
  },
  // The group depends on this: it exists once every listener of this variant does (HTTP, and HTTPS with it), so no
  // instance registers with a target group that no listener uses (targets "unused", verify waiting in vain).
  // A DependsOn cannot name a resource whose condition is false; a Ref in Fn::If makes the dependency only when it is true.
  ListenersReady: {
    Type: "AWS::CloudFormation::WaitConditionHandle",
    Metadata: { HttpListener: ref("HttpListener"), HttpsListener: ifCondition("UseHttps", ref("HttpsListener"), "none: Protocol=http") },
  },
  Certificate: {
    Type: "AWS::CertificateManager::Certificate",
    Condition: "CreateCertificate",
    Properties: { DomainName: ref("DomainName"), ValidationMethod: "DNS", DomainValidationOptions: [{ DomainName: ref("DomainName"), HostedZoneId: ref("HostedZoneId") }] },
  },
  DnsRecord: {
    Type: "AWS::Route53::RecordSet",
    Condition: "HasDnsRecord",
    Properties: {
      HostedZoneId: ref("HostedZoneId"),
      Name: ref("DomainName"),
      Type: "A",
      AliasTarget: { DNSName: getAtt("LoadBalancer", "DNSName"), HostedZoneId: getAtt("LoadBalancer", "CanonicalHostedZoneID"), EvaluateTargetHealth: true },
    },
  },
};

/** Body-inspecting rules of the common rule set only count: uploads are Python sources up to 5 MB, full of what they match. */
const COUNT_ONLY_RULES = ["SizeRestrictions_BODY", "CrossSiteScripting_BODY", "GenericLFI_BODY", "GenericRFI_BODY", "EC2MetaDataSSRF_BODY"];

function managedRule(name: string, priority: number, countOnly: string[] = []) {
  return {
    Name: name,
    Priority: priority,
    OverrideAction: { None: {} },
    Statement: {
      ManagedRuleGroupStatement: {
        VendorName: "AWS",
        Name: name,
        ...(countOnly.length ? { RuleActionOverrides: countOnly.map((rule) => ({ Name: rule, ActionToUse: { Count: {} } })) } : {}),
      },
    },
    VisibilityConfig: { SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: name },
  };
}

export const firewall: Record<string, Resource> = {
  WebAcl: {
    Type: "AWS::WAFv2::WebACL",
    Condition: "UseWaf",
    Properties: {
      Scope: "REGIONAL",
      Description: "CodeDetect: AWS managed rules in front of the load balancer",
      DefaultAction: { Allow: {} },
      Rules: [
        managedRule("AWSManagedRulesAmazonIpReputationList", 0),
        managedRule("AWSManagedRulesCommonRuleSet", 1, COUNT_ONLY_RULES),
        managedRule("AWSManagedRulesKnownBadInputsRuleSet", 2),
      ],
      VisibilityConfig: { SampledRequestsEnabled: true, CloudWatchMetricsEnabled: true, MetricName: sub("${AWS::StackName}-waf") },
    },
  },
  WebAclAssociation: {
    Type: "AWS::WAFv2::WebACLAssociation",
    Condition: "UseWaf",
    Properties: { ResourceArn: ref("LoadBalancer"), WebACLArn: getAtt("WebAcl", "Arn") },
  },
};

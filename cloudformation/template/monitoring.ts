// Alerts and the dashboard: the seed's four alarms plus the load balancer's, all to one SNS topic, and the key metrics on one page.
import { loadBalancerFullName, ref, sub, targetGroupFullName, type Json, type Resource } from "./intrinsics.ts";

const GROUP = [{ Name: "AutoScalingGroupName", Value: ref("AutoScalingGroup") }];
const LOAD_BALANCER = [{ Name: "LoadBalancer", Value: loadBalancerFullName }];
const TARGETS = [
  { Name: "TargetGroup", Value: targetGroupFullName },
  { Name: "LoadBalancer", Value: loadBalancerFullName },
];

interface AlarmSpec {
  description: string;
  namespace: string;
  metric: string;
  dimensions: Json[];
  statistic?: string;
  extendedStatistic?: string;
  period: number;
  evaluationPeriods: number;
  threshold: number;
  comparison: "GreaterThanThreshold" | "GreaterThanOrEqualToThreshold" | "LessThanThreshold";
  missing: "missing" | "notBreaching" | "breaching" | "ignore";
}

function alarm(spec: AlarmSpec): Resource {
  return {
    Type: "AWS::CloudWatch::Alarm",
    Properties: {
      AlarmDescription: spec.description,
      Namespace: spec.namespace,
      MetricName: spec.metric,
      Dimensions: spec.dimensions,
      ...(spec.extendedStatistic ? { ExtendedStatistic: spec.extendedStatistic } : { Statistic: spec.statistic ?? "Average" }),
      Period: spec.period,
      EvaluationPeriods: spec.evaluationPeriods,
      Threshold: spec.threshold,
      ComparisonOperator: spec.comparison,
      TreatMissingData: spec.missing,
      AlarmActions: [ref("AlertTopic")],
      OKActions: [ref("AlertTopic")],
    },
  };
}

export const alarms: Record<string, Resource> = {
  CpuHighAlarm: alarm({ description: "CPU above 80 % for 5 minutes (the group scales out at 60 %; this means it cannot keep up)", namespace: "AWS/EC2", metric: "CPUUtilization", dimensions: GROUP, period: 300, evaluationPeriods: 1, threshold: 80, comparison: "GreaterThanThreshold", missing: "missing" }),
  CpuLowAlarm: alarm({ description: "CPU below 30 % for 5 minutes (the group scales in)", namespace: "AWS/EC2", metric: "CPUUtilization", dimensions: GROUP, period: 300, evaluationPeriods: 1, threshold: 30, comparison: "LessThanThreshold", missing: "missing" }),
  StatusCheckFailedAlarm: alarm({ description: "An instance failed its EC2 status checks", namespace: "AWS/EC2", metric: "StatusCheckFailed", dimensions: GROUP, statistic: "Maximum", period: 60, evaluationPeriods: 2, threshold: 1, comparison: "GreaterThanOrEqualToThreshold", missing: "missing" }),
  NetworkOutHighAlarm: alarm({ description: "More than 100 MB out of the group in 5 minutes", namespace: "AWS/EC2", metric: "NetworkOut", dimensions: GROUP, statistic: "Sum", period: 300, evaluationPeriods: 1, threshold: 100_000_000, comparison: "GreaterThanThreshold", missing: "notBreaching" }),
  UnhealthyHostsAlarm: alarm({ description: "A target failed the load balancer's health check for 2 minutes", namespace: "AWS/ApplicationELB", metric: "UnHealthyHostCount", dimensions: TARGETS, statistic: "Maximum", period: 60, evaluationPeriods: 2, threshold: 1, comparison: "GreaterThanOrEqualToThreshold", missing: "notBreaching" }),
  // UnHealthyHostCount is 0 when no target is registered at all; HealthyHostCount < 1 catches that too, and no data
  // (nothing reporting) counts as breaching: the service is down either way.
  NoHealthyHostAlarm: alarm({ description: "No healthy target for 2 min: the load balancer answers 503", namespace: "AWS/ApplicationELB", metric: "HealthyHostCount", dimensions: TARGETS, statistic: "Minimum", period: 60, evaluationPeriods: 2, threshold: 1, comparison: "LessThanThreshold", missing: "breaching" }),
  // The load balancer's own errors (503 without healthy targets, 502 on a closed back-end connection, 504): never in the targets' 5xx.
  LoadBalancer5xxAlarm: alarm({ description: "Over 10 errors from the load balancer itself (502/503/504) in 5 min", namespace: "AWS/ApplicationELB", metric: "HTTPCode_ELB_5XX_Count", dimensions: LOAD_BALANCER, statistic: "Sum", period: 300, evaluationPeriods: 1, threshold: 10, comparison: "GreaterThanThreshold", missing: "notBreaching" }),
  Target5xxAlarm: alarm({ description: "More than 10 server errors from the targets in 5 minutes", namespace: "AWS/ApplicationELB", metric: "HTTPCode_Target_5XX_Count", dimensions: TARGETS, statistic: "Sum", period: 300, evaluationPeriods: 1, threshold: 10, comparison: "GreaterThanThreshold", missing: "notBreaching" }),
  TargetResponseTimeAlarm: alarm({ description: "p95 response time above 10 s for 15 minutes (an analysis may take up to 45 s; most take 1-3 s)", namespace: "AWS/ApplicationELB", metric: "TargetResponseTime", dimensions: TARGETS, extendedStatistic: "p95", period: 300, evaluationPeriods: 3, threshold: 10, comparison: "GreaterThanThreshold", missing: "notBreaching" }),
};

/** One metric widget; the metric arrays use CloudWatch's [namespace, name, dimension, value, …] form with ${…} filled by Fn::Sub. */
function widget(title: string, x: number, y: number, metrics: string[][], stat: string): Json {
  return { type: "metric", x, y, width: 12, height: 6, properties: { title, region: "${AWS::Region}", stat, period: 60, view: "timeSeries", metrics } };
}

const lbName = "${LoadBalancerFullName}";
const tgName = "${TargetGroupFullName}";
const dashboardBody = JSON.stringify({
  widgets: [
    widget("Requests", 0, 0, [["AWS/ApplicationELB", "RequestCount", "LoadBalancer", lbName]], "Sum"),
    widget("Target response time (p95)", 12, 0, [["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", lbName]], "p95"),
    widget("Healthy and unhealthy hosts", 0, 6, [["AWS/ApplicationELB", "HealthyHostCount", "TargetGroup", tgName, "LoadBalancer", lbName], ["AWS/ApplicationELB", "UnHealthyHostCount", "TargetGroup", tgName, "LoadBalancer", lbName]], "Maximum"),
    widget("CPU", 12, 6, [["AWS/EC2", "CPUUtilization", "AutoScalingGroupName", "${AutoScalingGroup}"]], "Average"),
    widget("EFS storage (bytes)", 0, 12, [["AWS/EFS", "StorageBytes", "FileSystemId", "${FileSystem}", "StorageClass", "Total"]], "Average"),
    widget("EFS throughput (bytes)", 12, 12, [["AWS/EFS", "DataReadIOBytes", "FileSystemId", "${FileSystem}"], ["AWS/EFS", "DataWriteIOBytes", "FileSystemId", "${FileSystem}"]], "Sum"),
  ],
});

export const monitoring: Record<string, Resource> = {
  AlertTopic: { Type: "AWS::SNS::Topic", Properties: { DisplayName: sub("CodeDetect ${AWS::StackName}") } },
  AlertEmailSubscription: { Type: "AWS::SNS::Subscription", Condition: "HasAlertEmail", Properties: { TopicArn: ref("AlertTopic"), Protocol: "email", Endpoint: ref("AlertEmail") } },
  Dashboard: { Type: "AWS::CloudWatch::Dashboard", Properties: { DashboardName: sub("${AWS::StackName}-codedetect"), DashboardBody: sub(dashboardBody, { LoadBalancerFullName: loadBalancerFullName, TargetGroupFullName: targetGroupFullName }) } },
  ...alarms,
};

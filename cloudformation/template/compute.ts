// The instances: their role (least privilege, scoped to this stack), launch template, Auto Scaling group and scaling policy.
import { fileSystemArn, getAtt, ifCondition, nameTag, noValue, ref, sub, type Json, type Resource } from "./intrinsics.ts";
import { databaseSecretStatement, withDatabaseTags } from "./database.ts";
import * as S from "./settings.ts";

/** The group's name is fixed from the stack name so the role can name it without a dependency cycle. */
export const GROUP_NAME = "${AWS::StackName}" + S.GROUP_NAME_SUFFIX;
const GROUP_ARN = `arn:\${AWS::Partition}:autoscaling:\${AWS::Region}:\${AWS::AccountId}:autoScalingGroup:*:autoScalingGroupName/${GROUP_NAME}`;

/**
 * Actions that support no resource-level permissions, so their statement names Resource "*" (AWS's service authorization
 * reference lists no resource type for them). The security test allows "*" for exactly these.
 */
export const UNSCOPABLE_ACTIONS = [
  "ec2:DescribeTags", // the agent: its instance's codedetect: tags
  "ec2:DescribeAvailabilityZones", // amazon-efs-utils: the mount target's IP when DNS cannot resolve it
  "elasticloadbalancing:DescribeTargetHealth", // the agent: verify and supervise
  "ecr:GetAuthorizationToken", // the launcher: aws ecr get-login-password
] as const;

// Exactly what runs on the instance calls, each scoped to this stack's resource: the agent's SDK commands
// (bootstrap/adapters/aws.ts), the launcher's AWS CLI calls, and Docker's awslogs driver, ECR pull and efs-utils' mount.
// test/cloudformation/iam.test.ts lists the agent's and launcher's calls from their source and checks this mapping.
const statements: Json[] = [
  { Sid: "SignalThisStack", Effect: "Allow", Action: ["cloudformation:SignalResource"], Resource: ref("AWS::StackId") },
  { Sid: "LifecycleAndHealthOfThisGroup", Effect: "Allow", Action: ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat", "autoscaling:SetInstanceHealth"], Resource: sub(GROUP_ARN) },
  { Sid: "RegisterWithThisTargetGroup", Effect: "Allow", Action: ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"], Resource: ref("TargetGroup") },
  {
    Sid: "MountThisFileSystem",
    Effect: "Allow",
    // ClientRootAccess: the agent lays out the shared tree as root and hands it to the container's user.
    Action: ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite", "elasticfilesystem:ClientRootAccess", "elasticfilesystem:DescribeMountTargets"],
    Resource: fileSystemArn,
  },
  // Docker's awslogs driver (the agent's Compose model sets it): one stream per instance in the stack's group.
  { Sid: "LogsToItsOwnGroup", Effect: "Allow", Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: getAtt("LogGroup", "Arn") },
  { Sid: "ReadsWithoutResourceLevelPermissions", Effect: "Allow", Action: [...UNSCOPABLE_ACTIONS], Resource: "*" },
  ifCondition(
    "HasEcrRepository",
    // Docker's pull by digest (manifest, then layers): AWS's AmazonEC2ContainerRegistryPullOnly, on this repository.
    { Sid: "PullTheImage", Effect: "Allow", Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"], Resource: sub("arn:${AWS::Partition}:ecr:${AWS::Region}:${AWS::AccountId}:repository/${EcrRepositoryName}") },
    noValue,
  ),
  databaseSecretStatement,
];

export const compute: Record<string, Resource> = {
  InstanceRole: {
    Type: "AWS::IAM::Role",
    Properties: {
      Description: "CodeDetect instances: signal, lifecycle, target registration, EFS, logs and image pull for this stack only; Session Manager instead of SSH",
      AssumeRolePolicyDocument: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }] },
      ManagedPolicyArns: [sub("arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore")],
      Policies: [{ PolicyName: "codedetect-instance", PolicyDocument: { Version: "2012-10-17", Statement: statements } }],
    },
  },
  InstanceProfile: { Type: "AWS::IAM::InstanceProfile", Properties: { Roles: [ref("InstanceRole")] } },
  LaunchTemplate: {
    Type: "AWS::EC2::LaunchTemplate",
    Properties: {
      LaunchTemplateData: {
        ImageId: ref("LatestAmiId"),
        InstanceType: ref("InstanceType"),
        IamInstanceProfile: { Arn: getAtt("InstanceProfile", "Arn") },
        SecurityGroupIds: [ref("InstanceSecurityGroup")],
        // Hop limit 1: IMDS answers the host only. A container on Docker's bridge network is one hop further, so the analysis
        // container (untrusted uploads) cannot take the instance role; nothing in it calls AWS (the agent and the awslogs
        // driver run on the host, in dockerd). The Compose stack uses the bridge network, never network_mode: host.
        MetadataOptions: { HttpTokens: "required", HttpPutResponseHopLimit: 1, HttpEndpoint: "enabled", InstanceMetadataTags: "enabled" },
        Monitoring: { Enabled: true },
        BlockDeviceMappings: [{ DeviceName: "/dev/xvda", Ebs: { VolumeType: "gp3", VolumeSize: 20, Encrypted: true, DeleteOnTermination: true } }],
        UserData: "(set by the generator)",
        TagSpecifications: [
          { ResourceType: "instance", Tags: nameTag("instance") },
          { ResourceType: "volume", Tags: nameTag("root") },
        ],
      },
    },
  },
  AutoScalingGroup: {
    Type: "AWS::AutoScaling::AutoScalingGroup",
    DependsOn: ["FileSystemMountTargetA", "FileSystemMountTargetB", "InstancesFromLoadBalancer", "InstancesToFileSystem", "FileSystemFromInstances", "ListenersReady"],
    CreationPolicy: {
      ResourceSignal: { Count: ref("DesiredCapacity"), Timeout: "PT15M" },
      AutoScalingCreationPolicy: { MinSuccessfulInstancesPercent: 100 },
    },
    UpdatePolicy: {
      AutoScalingRollingUpdate: {
        // One at a time, never below MinSize: the update borrows one instance of headroom, hence MaxSize > MinSize (a rule).
        MaxBatchSize: 1,
        MinInstancesInService: ref("MinSize"),
        MinSuccessfulInstancesPercent: 100,
        PauseTime: "PT15M",
        WaitOnResourceSignals: true,
        SuspendProcesses: ["HealthCheck", "ReplaceUnhealthy", "AZRebalance", "AlarmNotification", "ScheduledActions"],
      },
      AutoScalingScheduledAction: { IgnoreUnmodifiedGroupSizeProperties: true },
    },
    Properties: {
      AutoScalingGroupName: sub(GROUP_NAME),
      VPCZoneIdentifier: [ref("InstanceSubnetA"), ref("InstanceSubnetB")],
      LaunchTemplate: { LaunchTemplateId: ref("LaunchTemplate"), Version: getAtt("LaunchTemplate", "LatestVersionNumber") },
      MinSize: ref("MinSize"),
      DesiredCapacity: ref("DesiredCapacity"),
      MaxSize: ref("MaxSize"),
      TargetGroupARNs: [ref("TargetGroup")],
      HealthCheckType: "ELB",
      HealthCheckGracePeriod: S.HEALTH_CHECK_GRACE_SECONDS,
      DefaultInstanceWarmup: 120,
      MetricsCollection: [{ Granularity: "1Minute" }],
      // Hooks in the group's own list apply to the instances the create launches too (a separate LifecycleHook resource would miss them).
      // The launching hook keeps a migrating instance out of the grace period's reach; the agent completes it before verify and signal,
      // so CreationPolicy and WaitOnResourceSignals still count one SUCCESS per instance that serves (bootstrap/README.md, "launch").
      LifecycleHookSpecificationList: [
        { LifecycleHookName: S.LIFECYCLE_HOOK_NAME, LifecycleTransition: "autoscaling:EC2_INSTANCE_TERMINATING", HeartbeatTimeout: S.TERMINATION_HEARTBEAT_SECONDS, DefaultResult: "CONTINUE" },
        { LifecycleHookName: S.LAUNCH_HOOK_NAME, LifecycleTransition: "autoscaling:EC2_INSTANCE_LAUNCHING", HeartbeatTimeout: S.LAUNCH_HEARTBEAT_SECONDS, DefaultResult: "ABANDON" },
      ],
      NotificationConfigurations: [
        {
          TopicARN: ref("AlertTopic"),
          NotificationTypes: ["autoscaling:EC2_INSTANCE_LAUNCH", "autoscaling:EC2_INSTANCE_LAUNCH_ERROR", "autoscaling:EC2_INSTANCE_TERMINATE", "autoscaling:EC2_INSTANCE_TERMINATE_ERROR"],
        },
      ],
      Tags: withDatabaseTags([
        { Key: "Name", Value: sub("${AWS::StackName}-instance"), PropagateAtLaunch: true },
        // the agent passes it to the server as TRUSTED_PROXIES: clients are told apart behind the balancer (issue 13, item 3)
        { Key: S.TRUSTED_PROXIES_TAG, Value: ref("LoadBalancerCidrs"), PropagateAtLaunch: true },
      ]),
    },
  },
  CpuTargetTracking: {
    Type: "AWS::AutoScaling::ScalingPolicy",
    Properties: {
      AutoScalingGroupName: ref("AutoScalingGroup"),
      PolicyType: "TargetTrackingScaling",
      TargetTrackingConfiguration: { PredefinedMetricSpecification: { PredefinedMetricType: "ASGAverageCPUUtilization" }, TargetValue: 60 },
    },
  },
};

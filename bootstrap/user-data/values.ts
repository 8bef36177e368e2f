// The stack's values the user data carries, how the template fills them at deploy (Fn::Sub), and the longest each can be.

export const STACK_VALUE_NAMES = ["StackName", "Region", "FileSystemId", "ImageUri", "TargetGroupArn", "LogGroupName"] as const;
export type StackValueName = (typeof STACK_VALUE_NAMES)[number];
export type StackValues = Record<StackValueName, string>;

/** The server's DRAIN_SECONDS default, the target group's deregistration delay and the agent's drainSeconds: one figure. */
export const DRAIN_SECONDS = 30;
/** The termination lifecycle hook the agent completes after draining (the agent's lifecycleHook). */
export const LIFECYCLE_HOOK_NAME = "drain-before-terminate";
/**
 * The launching lifecycle hook the agent completes once the instance serves (CONTINUE; ABANDON when a step fails): it holds the instance
 * in Pending:Wait, out of the target group and out of health checks, while it migrates or waits for the migration lock; the health-check
 * grace starts only at InService. https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks-overview.html,
 * https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html
 */
export const LAUNCH_HOOK_NAME = "ready-before-in-service";
/**
 * Its heartbeat timeout (AWS allows 30–7200 s): with no heartbeat for this long (the agent died or hung) the default result ABANDON
 * terminates the instance and the group launches another. The agent heartbeats every third of it while it migrates or waits.
 */
export const LAUNCH_HEARTBEAT_SECONDS = 300;
/** The group is named "<stack>-instances", so the role and the user data name it without a dependency cycle. */
export const GROUP_NAME_SUFFIX = "-instances";
/** Supervise's stop budget (systemd TimeoutStopSec) and the hook's heartbeat: drain, the server's in-flight grace (30 s), Docker's stop margin. */
export const TERMINATION_HEARTBEAT_SECONDS = DRAIN_SECONDS + 30 + 60;

/** The CloudFormation logical ID the agent and the launcher signal. */
export const SIGNALLED_RESOURCE = "AutoScalingGroup";

/** Fn::Sub expressions for each value, resolved by CloudFormation when the launch template is created. */
export const TEMPLATE_EXPRESSIONS: StackValues = {
  StackName: "${AWS::StackName}",
  Region: "${AWS::Region}",
  FileSystemId: "${FileSystem}",
  ImageUri: "${ImageUri}",
  TargetGroupArn: "${TargetGroup}",
  LogGroupName: "${LogGroup}",
};

/** The ImageUri parameter's MaxLength. */
export const IMAGE_URI_MAX_LENGTH = 300;

/** The longest value each can take (stack names: 128 characters); the size check renders with these. */
export const LONGEST_VALUES: StackValues = {
  StackName: "s".repeat(128),
  Region: "ap-southeast-5",
  FileSystemId: `fs-${"0".repeat(40)}`,
  ImageUri: `${"r".repeat(IMAGE_URI_MAX_LENGTH - 64 - 8 - 1 - 10)}:${"t".repeat(10)}@sha256:${"0".repeat(64)}`,
  TargetGroupArn: `arn:aws-us-gov:elasticloadbalancing:ap-southeast-5:123456789012:targetgroup/${"t".repeat(32)}/${"0".repeat(16)}`,
  LogGroupName: `/codedetect/${"s".repeat(128)}`,
};

/** Plausible values for `npm run user-data` without --config and for the tests. */
export const EXAMPLE_VALUES: StackValues = {
  StackName: "codedetect-prod",
  Region: "eu-west-1",
  FileSystemId: "fs-0123456789abcdef0",
  ImageUri: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/codedetect:3.0.0@sha256:${"ab".repeat(32)}`,
  TargetGroupArn: "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/codedetect-prod/0123456789abcdef",
  LogGroupName: "/codedetect/codedetect-prod",
};

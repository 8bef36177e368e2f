// The stack's values the user data carries, how the template fills them at deploy (Fn::Sub), and the longest each can be.

export const STACK_VALUE_NAMES = ["StackName", "Region", "FileSystemId", "ImageUri", "TargetGroupArn", "LogGroupName"] as const;
export type StackValueName = (typeof STACK_VALUE_NAMES)[number];
export type StackValues = Record<StackValueName, string>;

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

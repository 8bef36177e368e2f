// CloudFormation intrinsic functions as plain data (long form), so the generator writes YAML any tool can read.
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

export const ref = (name: string): Json => ({ Ref: name });
export const getAtt = (resource: string, attribute: string): Json => ({ "Fn::GetAtt": [resource, attribute] });
export const sub = (text: string, variables?: Record<string, Json>): Json => (variables ? { "Fn::Sub": [text, variables] } : { "Fn::Sub": text });
export const ifCondition = (condition: string, whenTrue: Json, whenFalse: Json): Json => ({ "Fn::If": [condition, whenTrue, whenFalse] });
export const equals = (a: Json, b: Json): Json => ({ "Fn::Equals": [a, b] });
export const not = (condition: Json): Json => ({ "Fn::Not": [condition] });
export const and = (...conditions: Json[]): Json => ({ "Fn::And": conditions });
export const condition = (name: string): Json => ({ Condition: name });
export const base64 = (value: Json): Json => ({ "Fn::Base64": value });
export const split = (delimiter: string, value: Json): Json => ({ "Fn::Split": [delimiter, value] });
export const select = (index: number, list: Json): Json => ({ "Fn::Select": [String(index), list] });
export const noValue: Json = { Ref: "AWS::NoValue" };
export const stackName: Json = { Ref: "AWS::StackName" };

/** A resource: Type, Properties and the optional attributes CloudFormation reads beside them. */
export interface Resource {
  Type: string;
  Condition?: string;
  DependsOn?: string | string[];
  Properties?: Record<string, Json>;
  CreationPolicy?: Json;
  UpdatePolicy?: Json;
  DeletionPolicy?: "Delete" | "Retain" | "Snapshot" | "RetainExceptOnCreate";
  UpdateReplacePolicy?: "Delete" | "Retain" | "Snapshot";
  Metadata?: Json;
}

/** Tags that name every resource after its stack. */
export function nameTag(suffix: string): Json[] {
  return [{ Key: "Name", Value: sub(`\${AWS::StackName}-${suffix}`) }];
}

/** "app/<name>/<id>": the same value as GetAtt LoadBalancer.LoadBalancerFullName, derived from the ARN (moto lacks that attribute). */
export const loadBalancerFullName: Json = select(1, split("loadbalancer/", ref("LoadBalancer")));
/** "targetgroup/<name>/<id>": the same value as GetAtt TargetGroup.TargetGroupFullName, derived from the ARN (moto lacks that attribute). */
export const targetGroupFullName: Json = select(5, split(":", ref("TargetGroup")));
/** The file system's ARN, built as GetAtt FileSystem.Arn would give it (moto lacks that attribute). */
export const fileSystemArn: Json = sub("arn:${AWS::Partition}:elasticfilesystem:${AWS::Region}:${AWS::AccountId}:file-system/${FileSystem}");

// Shared storage and logs: the encrypted EFS file system (TLS required, backed up, a mount target per instance subnet) and the log group.
import { nameTag, ref, sub, type Resource } from "./intrinsics.ts";

const mountTarget = (subnet: string): Resource => ({
  Type: "AWS::EFS::MountTarget",
  Properties: { FileSystemId: ref("FileSystem"), SubnetId: ref(subnet), SecurityGroups: [ref("FileSystemSecurityGroup")] },
});

export const storage: Record<string, Resource> = {
  FileSystem: {
    Type: "AWS::EFS::FileSystem",
    // The database and uploads outlive the stack: deleting it keeps the file system (and its backups), except when the
    // create itself fails and rolls back (nothing was stored yet: Retain would leave an empty file system per attempt).
    // A replacement (an update changing a property that replaces it) keeps the old one: UpdateReplacePolicy has no
    // RetainExceptOnCreate, and the old one holds the data.
    DeletionPolicy: "RetainExceptOnCreate",
    UpdateReplacePolicy: "Retain",
    Properties: {
      Encrypted: true,
      PerformanceMode: "generalPurpose",
      ThroughputMode: "elastic",
      BackupPolicy: { Status: "ENABLED" },
      FileSystemPolicy: {
        Version: "2012-10-17",
        Statement: [
          {
            Sid: "RefuseUnencryptedTransport",
            Effect: "Deny",
            Principal: { AWS: "*" },
            Action: "*",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          },
          {
            // Mounts come only through the mount targets (which only the instances' security group reaches).
            Sid: "MountThroughMountTargets",
            Effect: "Allow",
            Principal: { AWS: "*" },
            Action: ["elasticfilesystem:ClientMount", "elasticfilesystem:ClientWrite", "elasticfilesystem:ClientRootAccess"],
            Condition: { Bool: { "elasticfilesystem:AccessedViaMountTarget": "true" } },
          },
        ],
      },
      FileSystemTags: [{ Key: "Name", Value: sub("${AWS::StackName}-shared") }],
    },
  },
  FileSystemMountTargetA: mountTarget("InstanceSubnetA"),
  FileSystemMountTargetB: mountTarget("InstanceSubnetB"),
  LogGroup: {
    Type: "AWS::Logs::LogGroup",
    DeletionPolicy: "Delete",
    UpdateReplacePolicy: "Delete",
    Properties: { LogGroupName: sub("/codedetect/${AWS::StackName}"), RetentionInDays: ref("LogRetentionDays"), Tags: nameTag("logs") },
  },
};


// The optional database tier (parameter DatabaseBackend=rds-postgresql): RDS PostgreSQL Multi-AZ, encrypted, private, its password managed by Secrets Manager.
import { getAtt, ifCondition, nameTag, noValue, ref, sub, type Json, type Resource } from "./intrinsics.ts";

export const POSTGRES_PORT = 5432;
/** A supported major version (the store needs 10 or later: identity columns, statement triggers with transition tables; tested on 15). */
const ENGINE_VERSION = "18";

export const databaseParameters: Record<string, Json> = {
  DatabaseBackend: {
    Type: "String",
    Default: "sqlite-efs",
    AllowedValues: ["sqlite-efs", "rds-postgresql"],
    Description: "sqlite-efs: SQLite on the shared file system (no extra cost). rds-postgresql: RDS PostgreSQL Multi-AZ for a larger fleet (move the data with npm run migrate-db; see server/store/README.md).",
  },
  DatabaseInstanceClass: {
    Type: "String",
    Default: "db.t4g.small",
    AllowedValues: ["db.t4g.micro", "db.t4g.small", "db.t4g.medium", "db.m7g.large", "db.r7g.large"],
    Description: "The RDS instance class (rds-postgresql only).",
  },
  DatabaseCaBundleSha256: {
    Type: "String",
    Default: "",
    AllowedPattern: "^([a-f0-9]{64})?$",
    ConstraintDescription: "64 lower-case hex digits, or empty with sqlite-efs",
    Description: "rds-postgresql only, required there: sha256sum of https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem as you checked it; the instances refuse any other bundle (see cloudformation/README.md).",
  },
};

/** With PostgreSQL the CA bundle's pin is required: without it no instance could verify the database. */
export const databaseRules: Record<string, Json> = {
  DatabaseCaBundlePinned: {
    RuleCondition: { "Fn::Equals": [ref("DatabaseBackend"), "rds-postgresql"] },
    Assertions: [{ Assert: { "Fn::Not": [{ "Fn::Equals": [ref("DatabaseCaBundleSha256"), ""] }] }, AssertDescription: "DatabaseBackend=rds-postgresql needs DatabaseCaBundleSha256 (the sha256 of RDS's CA bundle)" }],
  },
};

export const databaseCondition = "UsePostgresql";

/** The tags the agent reads (ec2:DescribeTags, as every codedetect:<setting> tag) to find its database and pin its CA bundle. */
export const DATABASE_SECRET_TAG = "codedetect:databaseSecretArn";
export const DATABASE_ENDPOINT_TAG = "codedetect:databaseEndpoint";
export const DATABASE_CA_SHA256_TAG = "codedetect:databaseCaSha256";

const when = (resource: Resource): Resource => ({ ...resource, Condition: databaseCondition });

export const database: Record<string, Resource> = {
  DatabaseSecurityGroup: when({
    Type: "AWS::EC2::SecurityGroup",
    Properties: {
      GroupDescription: "CodeDetect database: PostgreSQL from the instances only",
      VpcId: ref("VpcId"),
      SecurityGroupEgress: [{ IpProtocol: "icmp", FromPort: 252, ToPort: 86, CidrIp: "255.255.255.255/32", Description: "no egress" }],
      Tags: nameTag("database"),
    },
  }),
  DatabaseFromInstances: when({
    Type: "AWS::EC2::SecurityGroupIngress",
    Properties: { GroupId: ref("DatabaseSecurityGroup"), IpProtocol: "tcp", FromPort: POSTGRES_PORT, ToPort: POSTGRES_PORT, SourceSecurityGroupId: ref("InstanceSecurityGroup"), Description: "PostgreSQL from the instances only" },
  }),
  InstancesToDatabase: when({
    Type: "AWS::EC2::SecurityGroupEgress",
    Properties: { GroupId: ref("InstanceSecurityGroup"), IpProtocol: "tcp", FromPort: POSTGRES_PORT, ToPort: POSTGRES_PORT, DestinationSecurityGroupId: ref("DatabaseSecurityGroup"), Description: "PostgreSQL (TLS) to the database" },
  }),
  DatabaseSubnetGroup: when({
    Type: "AWS::RDS::DBSubnetGroup",
    Properties: { DBSubnetGroupDescription: "CodeDetect database: the instances' private subnets", SubnetIds: [ref("InstanceSubnetA"), ref("InstanceSubnetB")], Tags: nameTag("database") },
  }),
  Database: when({
    Type: "AWS::RDS::DBInstance",
    // the data outlives the stack: deleting or replacing the instance leaves a final snapshot
    DeletionPolicy: "Snapshot",
    UpdateReplacePolicy: "Snapshot",
    Properties: {
      Engine: "postgres",
      EngineVersion: ENGINE_VERSION,
      DBInstanceClass: ref("DatabaseInstanceClass"),
      DBName: "codedetect",
      MasterUsername: "codedetect",
      // RDS creates the password and keeps it in Secrets Manager (rotated there): never a parameter, user data or log
      ManageMasterUserPassword: true,
      // TLS is required by the engine's default parameter group (rds.force_ssl = 1 since RDS for PostgreSQL 15)
      MultiAZ: true,
      StorageEncrypted: true,
      StorageType: "gp3",
      AllocatedStorage: "20",
      MaxAllocatedStorage: 200,
      PubliclyAccessible: false,
      DBSubnetGroupName: ref("DatabaseSubnetGroup"),
      VPCSecurityGroups: [ref("DatabaseSecurityGroup")],
      BackupRetentionPeriod: 7,
      DeletionProtection: true,
      CopyTagsToSnapshot: true,
      AutoMinorVersionUpgrade: true,
      Tags: nameTag("database"),
    },
  }),
};

/** host:port, joined from the two attributes (moto resolves those, not Sub's dotted ${Database.Endpoint.Address}). */
const ENDPOINT: Json = { "Fn::Join": [":", [getAtt("Database", "Endpoint.Address"), getAtt("Database", "Endpoint.Port")]] };

/** The instance role's one extra permission: reading this database's own secret, nothing else. */
export const databaseSecretStatement: Json = ifCondition(
  databaseCondition,
  { Sid: "ReadTheDatabaseSecret", Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: getAtt("Database", "MasterUserSecret.SecretArn") },
  noValue,
);

/**
 * The group's tags: with PostgreSQL, three more (propagated to instances) naming the secret, the endpoint and the CA bundle's sha256. One Fn::If
 * over the whole list, not AWS::NoValue inside it (moto 5.2 fails on a removed list item there).
 */
export function withDatabaseTags(tags: Json[]): Json {
  return ifCondition(databaseCondition, [
    ...tags,
    { Key: DATABASE_SECRET_TAG, Value: getAtt("Database", "MasterUserSecret.SecretArn"), PropagateAtLaunch: true },
    { Key: DATABASE_ENDPOINT_TAG, Value: ENDPOINT, PropagateAtLaunch: true },
    { Key: DATABASE_CA_SHA256_TAG, Value: ref("DatabaseCaBundleSha256"), PropagateAtLaunch: true },
  ], tags);
}

export const databaseOutputs: Record<string, Json> = {
  DatabaseEndpoint: { Condition: databaseCondition, Description: "The RDS PostgreSQL endpoint (host:port)", Value: ENDPOINT },
  DatabaseSecretArn: { Condition: databaseCondition, Description: "The Secrets Manager secret holding the database's master credentials", Value: getAtt("Database", "MasterUserSecret.SecretArn") },
};

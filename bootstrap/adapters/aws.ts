// The AWS calls the agent makes (EFS mount targets, EC2 tags), behind one small interface; SDK modules load only when used.
export interface MountTargetState {
  mountTargetId: string;
  zone: string;
  state: string;
  ipAddress: string | null;
}

export interface AwsAdapter {
  mountTargets(fileSystemId: string): Promise<MountTargetState[]>;
  instanceTags(instanceId: string): Promise<Record<string, string>>;
  /** Performs an `aws` action; calls are added here as steps need them (signal, lifecycle, health). */
  perform(call: string, input: unknown): Promise<void>;
}

export interface AwsOptions {
  region: string;
  /** An emulator's URL in tests; null: AWS itself. */
  endpoint: string | null;
}

export function createAwsAdapter(options: AwsOptions): AwsAdapter {
  const common = { region: options.region, maxAttempts: 5, ...(options.endpoint ? { endpoint: options.endpoint } : {}) };
  return {
    async mountTargets(fileSystemId) {
      const { EFSClient, DescribeMountTargetsCommand } = await import("@aws-sdk/client-efs");
      const client = new EFSClient(common);
      const targets: MountTargetState[] = [];
      let marker: string | undefined;
      do {
        const page = await client.send(new DescribeMountTargetsCommand({ FileSystemId: fileSystemId, Marker: marker }));
        for (const target of page.MountTargets ?? []) {
          targets.push({ mountTargetId: target.MountTargetId ?? "?", zone: target.AvailabilityZoneName ?? "?", state: target.LifeCycleState ?? "?", ipAddress: target.IpAddress ?? null });
        }
        marker = page.NextMarker;
      } while (marker);
      return targets;
    },
    async instanceTags(instanceId) {
      const { EC2Client, DescribeTagsCommand } = await import("@aws-sdk/client-ec2");
      const client = new EC2Client(common);
      const tags: Record<string, string> = {};
      let token: string | undefined;
      do {
        const page = await client.send(new DescribeTagsCommand({ Filters: [{ Name: "resource-id", Values: [instanceId] }], NextToken: token }));
        for (const tag of page.Tags ?? []) if (tag.Key) tags[tag.Key] = tag.Value ?? "";
        token = page.NextToken;
      } while (token);
      return tags;
    },
    async perform(call) {
      throw new Error(`the AWS call ${call} is not implemented in this agent yet`);
    },
  };
}

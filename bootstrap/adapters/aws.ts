// The AWS calls the agent makes (EFS mount targets, EC2 tags, target health; signal, instance health, lifecycle, targets), behind one small interface; SDK modules load only when used.
import pRetry, { AbortError } from "p-retry";
import { DEFAULT_SDK_TIMEOUTS, describeSdkError, endpointOf, sdkClientConfig, type SdkTimeouts } from "./sdk-client.ts";

export interface MountTargetState {
  mountTargetId: string;
  zone: string;
  state: string;
  ipAddress: string | null;
}

/** ELBv2's TargetHealth.State ("initial", "healthy", "unhealthy", "unused", "draining", "unavailable"), or "unregistered" when the group does not list the target. */
export interface TargetHealth {
  state: string;
  reason: string | null;
}

/** The calls an `aws` action may name, with the SDK command each one sends. */
export const AWS_CALLS = ["cloudformation:SignalResource", "autoscaling:SetInstanceHealth", "autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat", "elbv2:RegisterTargets", "elbv2:DeregisterTargets"] as const;
export type AwsCall = (typeof AWS_CALLS)[number];

export interface AwsAdapter {
  mountTargets(fileSystemId: string): Promise<MountTargetState[]>;
  instanceTags(instanceId: string): Promise<Record<string, string>>;
  targetHealth(targetGroupArn: string, target: { id: string; port: number }): Promise<TargetHealth>;
  /** Performs an `aws` action (one of AWS_CALLS), retried on throttling, 5xx and network errors; a refusal (validation, access) is not retried. */
  perform(call: string, input: unknown): Promise<void>;
}

export interface AwsOptions {
  region: string;
  /** An emulator's URL in tests; null: AWS itself. */
  endpoint: string | null;
  /** Retries of `perform` (p-retry): attempts in all and the delays between them. */
  retry?: { attempts: number; minDelayMs: number; maxDelayMs: number; deadlineMs: number };
  /** Each SDK attempt's connection and request timeouts (sdk-client.ts). */
  timeouts?: SdkTimeouts;
  log?: (line: string) => void;
}

/** Each call's service, by its endpoint's host name (for messages that name the endpoint that did not answer). */
const SERVICE_HOSTS: Record<string, string> = { cloudformation: "cloudformation", autoscaling: "autoscaling", elbv2: "elasticloadbalancing", efs: "elasticfilesystem", ec2: "ec2" };

export const DEFAULT_AWS_RETRY = { attempts: 6, minDelayMs: 500, maxDelayMs: 8000, deadlineMs: 90_000 };

/** Errors worth another attempt: throttling, the service's 5xx, no answer at all. */
export function retryable(error: unknown): boolean {
  const e = error as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number }; $fault?: string };
  if (e.$retryable) return true;
  if (/Throttl|TooManyRequests|RequestLimitExceeded|ServiceUnavailable|InternalFailure|InternalError/.test(e.name ?? "")) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status === undefined) return !(e.$fault === "client");
  return status >= 500 || status === 429;
}

/** A call that failed for good: AWS's error code (the SDK's error name), HTTP status and message, beside the agent's one-line description. */
export class AwsCallError extends Error {
  override name = "AwsCallError";
  readonly code: string;
  readonly status: number | null;
  readonly awsMessage: string;
  constructor(message: string, cause: unknown) {
    super(message);
    const e = cause as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    this.code = e.name ?? "Error";
    this.status = e.$metadata?.httpStatusCode ?? null;
    this.awsMessage = e.message ?? String(cause);
  }
}

export function createAwsAdapter(options: AwsOptions): AwsAdapter {
  const timeouts = options.timeouts ?? DEFAULT_SDK_TIMEOUTS;
  const common = sdkClientConfig({ region: options.region, endpoint: options.endpoint, maxAttempts: 5, timeouts });
  // `perform` retries with p-retry itself, so each SDK send is one attempt: the attempts and the deadline are ours.
  const once = sdkClientConfig({ region: options.region, endpoint: options.endpoint, maxAttempts: 1, timeouts });
  const policy = options.retry ?? DEFAULT_AWS_RETRY;
  const describeError = (call: string, error: unknown) => describeSdkError(error, endpointOf(SERVICE_HOSTS[call.split(":")[0]!] ?? call, options), timeouts);
  /** A read's failure as one line naming the call, and the endpoint when it did not answer. */
  const reading = async <T>(call: string, read: () => Promise<T>): Promise<T> => {
    try {
      return await read();
    } catch (error) {
      throw new Error(`${call}: ${describeError(call, error)}`);
    }
  };

  async function send(call: AwsCall, input: never): Promise<void> {
    switch (call) {
      case "cloudformation:SignalResource": {
        const { CloudFormationClient, SignalResourceCommand } = await import("@aws-sdk/client-cloudformation");
        await new CloudFormationClient(once).send(new SignalResourceCommand(input));
        return;
      }
      case "autoscaling:SetInstanceHealth": {
        const { AutoScalingClient, SetInstanceHealthCommand } = await import("@aws-sdk/client-auto-scaling");
        await new AutoScalingClient(once).send(new SetInstanceHealthCommand(input));
        return;
      }
      case "autoscaling:CompleteLifecycleAction": {
        const { AutoScalingClient, CompleteLifecycleActionCommand } = await import("@aws-sdk/client-auto-scaling");
        await new AutoScalingClient(once).send(new CompleteLifecycleActionCommand(input));
        return;
      }
      case "autoscaling:RecordLifecycleActionHeartbeat": {
        const { AutoScalingClient, RecordLifecycleActionHeartbeatCommand } = await import("@aws-sdk/client-auto-scaling");
        await new AutoScalingClient(once).send(new RecordLifecycleActionHeartbeatCommand(input));
        return;
      }
      case "elbv2:RegisterTargets": {
        const { ElasticLoadBalancingV2Client, RegisterTargetsCommand } = await import("@aws-sdk/client-elastic-load-balancing-v2");
        await new ElasticLoadBalancingV2Client(once).send(new RegisterTargetsCommand(input));
        return;
      }
      case "elbv2:DeregisterTargets": {
        const { ElasticLoadBalancingV2Client, DeregisterTargetsCommand } = await import("@aws-sdk/client-elastic-load-balancing-v2");
        await new ElasticLoadBalancingV2Client(once).send(new DeregisterTargetsCommand(input));
        return;
      }
    }
  }

  return {
    mountTargets: (fileSystemId) => reading("efs:DescribeMountTargets", async () => {
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
    }),
    instanceTags: (instanceId) => reading("ec2:DescribeTags", async () => {
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
    }),
    targetHealth: (targetGroupArn, target) => reading("elbv2:DescribeTargetHealth", async () => {
      const { ElasticLoadBalancingV2Client, DescribeTargetHealthCommand } = await import("@aws-sdk/client-elastic-load-balancing-v2");
      const answer = await new ElasticLoadBalancingV2Client(common).send(new DescribeTargetHealthCommand({ TargetGroupArn: targetGroupArn, Targets: [{ Id: target.id, Port: target.port }] }));
      const description = (answer.TargetHealthDescriptions ?? []).find((d) => d.Target?.Id === target.id && (d.Target?.Port ?? target.port) === target.port);
      if (!description?.TargetHealth?.State) return { state: "unregistered", reason: null };
      const reason = [description.TargetHealth.Reason, description.TargetHealth.Description].filter(Boolean).join(": ");
      // ELBv2 answers an unregistered target with state "unused" and reason Target.NotRegistered.
      if (description.TargetHealth.Reason === "Target.NotRegistered") return { state: "unregistered", reason };
      return { state: description.TargetHealth.State, reason: reason || null };
    }),
    async perform(call, input) {
      if (!(AWS_CALLS as readonly string[]).includes(call)) throw new Error(`the AWS call ${call} is not one this agent makes (${AWS_CALLS.join(", ")})`);
      let attempts = 0;
      let last: unknown = null;
      try {
        await pRetry(
          async () => {
            attempts += 1;
            try {
              await send(call as AwsCall, input as never);
            } catch (error) {
              last = error;
              if (!retryable(error)) throw new AbortError(describeError(call, error));
              throw new Error(describeError(call, error));
            }
          },
          {
            retries: policy.attempts - 1,
            factor: 2,
            minTimeout: policy.minDelayMs,
            maxTimeout: policy.maxDelayMs,
            randomize: true,
            maxRetryTime: policy.deadlineMs,
            onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
              if (retriesLeft > 0) options.log?.(`  ${call} attempt ${attemptNumber} failed (${error.message}); retrying`);
            },
          },
        );
      } catch (error) {
        throw new AwsCallError(`${call} failed after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${(error as Error).message}`, last ?? error);
      }
    },
  };
}

// The twin's Auto Scaling: groups that launch (through the harness) and terminate instances, lifecycle hooks with heartbeats and default results, health-check grace, ELB health → replacement, SetInstanceHealth.
import { randomBytes, randomUUID } from "node:crypto";
import type { Elbv2 } from "./elbv2.ts";
import { AwsError, type Clock, type QueryParams, type TwinEvent, type XmlValue } from "./wire.ts";

/** https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_AutoScalingInstanceDetails.html (LifecycleState). */
export type LifecycleState = "Pending" | "Pending:Wait" | "Pending:Proceed" | "InService" | "Terminating" | "Terminating:Wait" | "Terminating:Proceed" | "Terminated";
export type Transition = "autoscaling:EC2_INSTANCE_LAUNCHING" | "autoscaling:EC2_INSTANCE_TERMINATING";

/**
 * A lifecycle hook (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LifecycleHook.html): HeartbeatTimeout defaults
 * to 3600 s; GlobalTimeout is the smaller of 172800 s (48 h) and 100 × HeartbeatTimeout; DefaultResult (CONTINUE | ABANDON) is
 * taken when the timeout elapses. PutLifecycleHook's DefaultResult defaults to ABANDON (API_PutLifecycleHook.html); CloudFormation's
 * AWS::AutoScaling::LifecycleHook too.
 */
export interface Hook {
  name: string;
  transition: Transition;
  heartbeatTimeoutSeconds: number;
  defaultResult: "CONTINUE" | "ABANDON";
}
export const AWS_DEFAULT_HEARTBEAT_SECONDS = 3600;
export const AWS_MAX_GLOBAL_TIMEOUT_SECONDS = 172_800;

/**
 * The health-check grace period: AWS's default is 300 s when a group is created in the console or with CloudFormation, 0 with the
 * API/CLI (https://docs.aws.amazon.com/autoscaling/ec2/userguide/health-check-grace-period.html); this project's template sets 240 s.
 */
export const AWS_DEFAULT_GRACE_SECONDS = 300;

interface LifecycleAction {
  hook: Hook;
  token: string;
  startedAt: number;
  heartbeat: NodeJS.Timeout | null;
  global: NodeJS.Timeout | null;
}

export interface TwinInstance {
  id: string;
  group: string;
  zone: string;
  region: string;
  /** The private address the load balancer reaches it at; null until the harness launched it. */
  host: string | null;
  ec2State: "pending" | "running" | "shutting-down" | "terminated";
  lifecycleState: LifecycleState;
  /** IMDS autoscaling/target-lifecycle-state; null before any transition (IMDS answers 404). */
  targetLifecycleState: string | null;
  healthStatus: "Healthy" | "Unhealthy";
  tags: Record<string, string>;
  /** Its own IMDSv2 endpoint (set by the twin when it starts the instance). */
  imdsUrl: string;
  launchedAt: number;
  inServiceAt: number | null;
  action: LifecycleAction | null;
  /** Why it was launched / terminated, for the event log and figures. */
  cause: string;
}

export interface GroupOptions {
  name: string;
  min: number;
  max: number;
  desired: number;
  healthCheckType?: "EC2" | "ELB";
  gracePeriodSeconds?: number;
  targetGroupArns?: string[];
  zones: string[];
  /** Propagated to every instance at launch (launch template tags). */
  tags?: Record<string, string>;
  hooks?: Partial<Hook>[];
  /** Judgement: how often the group looks at its instances' health (AWS does not publish the period; ~10 s is what one sees). */
  healthSweepSeconds?: number;
}

export interface Group {
  name: string;
  min: number;
  max: number;
  desired: number;
  healthCheckType: "EC2" | "ELB";
  gracePeriodSeconds: number;
  targetGroupArns: string[];
  zones: string[];
  tags: Record<string, string>;
  hooks: Hook[];
  instances: Set<string>;
  /** Instances launched by a stack operation wait for it; other launches are outside any stack operation. */
  launchCause: string;
}

export interface AutoScalingDeps {
  clock: Clock;
  region: string;
  elbv2: Elbv2;
  log: (event: Omit<TwinEvent, "at">) => void;
  /** The twin starts the instance's IMDS, then the harness starts the agent; resolves with its private address. */
  start: (instance: TwinInstance) => Promise<string>;
  /** The EC2 instance goes away: the harness stops what it started (processes, containers), the twin its IMDS. */
  stop: (instance: TwinInstance) => Promise<void>;
}

function newInstanceId(): string {
  return `i-${randomBytes(9).toString("hex").slice(0, 17)}`;
}

const live = (instance: TwinInstance) => !/^Terminat/.test(instance.lifecycleState);

export function createAutoScaling(deps: AutoScalingDeps) {
  const { clock, elbv2 } = deps;
  const groups = new Map<string, Group>();
  const instances = new Map<string, TwinInstance>();
  const listeners = new Set<(instance: TwinInstance) => void>();

  const say = (instance: TwinInstance, what: string) => deps.log({ resource: instance.id, what });

  function setLifecycle(instance: TwinInstance, state: LifecycleState): void {
    instance.lifecycleState = state;
    say(instance, `${state}${instance.cause ? ` (${instance.cause})` : ""}`);
    for (const listener of listeners) listener(instance);
  }

  function group(name: string | undefined): Group {
    const found = name ? groups.get(name) : undefined;
    // AWS's answer for an unknown group name (ValidationError, "AutoScalingGroup name not found - …").
    if (!found) throw new AwsError("ValidationError", `AutoScalingGroup name not found - AutoScalingGroup ${name ?? "(none)"} not found`);
    return found;
  }

  function endAction(instance: TwinInstance): LifecycleAction | null {
    const action = instance.action;
    if (!action) return null;
    clock.cancel(action.heartbeat);
    clock.cancel(action.global);
    instance.action = null;
    return action;
  }

  /** Enters the hook's wait state; the default result comes at the heartbeat timeout (reset by heartbeats) or the global timeout. */
  function startAction(instance: TwinInstance, hook: Hook): void {
    const action: LifecycleAction = { hook, token: randomUUID(), startedAt: clock.now(), heartbeat: null, global: null };
    instance.action = action;
    const timeout = () => {
      if (instance.action !== action) return;
      say(instance, `lifecycle hook ${hook.name} timed out: default result ${hook.defaultResult}`);
      finishAction(instance, hook.defaultResult);
    };
    action.heartbeat = clock.after(hook.heartbeatTimeoutSeconds, timeout);
    action.global = clock.after(Math.min(AWS_MAX_GLOBAL_TIMEOUT_SECONDS, 100 * hook.heartbeatTimeoutSeconds), timeout);
    setLifecycle(instance, hook.transition === "autoscaling:EC2_INSTANCE_LAUNCHING" ? "Pending:Wait" : "Terminating:Wait");
  }

  function finishAction(instance: TwinInstance, result: "CONTINUE" | "ABANDON"): void {
    const action = endAction(instance);
    if (!action) return;
    if (action.hook.transition === "autoscaling:EC2_INSTANCE_LAUNCHING") {
      // ABANDON of a launch: the instance is terminated (and replaced) — https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks-overview.html
      if (result === "ABANDON") return void terminate(instance, "launch abandoned", { skipDrain: true });
      setLifecycle(instance, "Pending:Proceed");
      return void enterService(instance);
    }
    // For a terminating hook CONTINUE and ABANDON both terminate the instance (ABANDON skips any other hook).
    setLifecycle(instance, "Terminating:Proceed");
    void finalTermination(instance);
  }

  /**
   * Pending:Proceed → registered with the target groups → InService, where the grace period starts ("the instance is registered
   * with the load balancer before it reaches InService … the health check grace period starts", lifecycle-hooks-overview.html).
   */
  function enterService(instance: TwinInstance): void {
    const g = groups.get(instance.group)!;
    for (const arn of g.targetGroupArns) {
      for (const port of portsFor(g, arn)) elbv2.register(arn, instance.id, port);
    }
    instance.inServiceAt = clock.now();
    setLifecycle(instance, "InService");
  }

  /** The port the group registers an instance on: the target group's own port (AWS registers the group's instances on it). */
  function portsFor(_g: Group, arn: string): number[] {
    return [elbv2.groups.get(arn)!.port];
  }

  async function launch(g: Group, cause: string): Promise<void> {
    const zone = g.zones[[...g.instances].filter((id) => live(instances.get(id)!)).length % g.zones.length]!;
    const instance: TwinInstance = {
      id: newInstanceId(),
      group: g.name,
      zone,
      region: deps.region,
      host: null,
      ec2State: "pending",
      lifecycleState: "Pending",
      // https://docs.aws.amazon.com/autoscaling/ec2/userguide/retrieving-target-lifecycle-state-through-imds.html: the target state is
      // the steady state the instance is moving to (InService while it is Pending or Pending:Wait).
      targetLifecycleState: "InService",
      healthStatus: "Healthy",
      tags: { ...g.tags, "aws:autoscaling:groupName": g.name },
      imdsUrl: "",
      launchedAt: clock.now(),
      inServiceAt: null,
      action: null,
      cause,
    };
    instances.set(instance.id, instance);
    g.instances.add(instance.id);
    setLifecycle(instance, "Pending");
    try {
      instance.host = await deps.start(instance);
      instance.ec2State = "running";
    } catch (error) {
      say(instance, `launch failed: ${(error as Error).message}`);
      return void terminate(instance, "launch failed", { skipDrain: true });
    }
    if (!live(instance)) return;
    const hook = g.hooks.find((h) => h.transition === "autoscaling:EC2_INSTANCE_LAUNCHING");
    if (hook) return startAction(instance, hook);
    setLifecycle(instance, "Pending:Proceed");
    enterService(instance);
  }

  /**
   * Terminating: IMDS says Terminated at once; the instance is deregistered from its target groups and the group waits for the
   * drain ("deregistered from the load balancer … waits for existing connections to drain", lifecycle-hooks-overview.html step 4),
   * then the terminating hook (Terminating:Wait), then the instance ends. The replacement launches without waiting for it.
   */
  function terminate(instance: TwinInstance, cause: string, options: { skipDrain?: boolean; decrement?: boolean } = {}): void {
    if (!live(instance)) return;
    const g = groups.get(instance.group)!;
    endAction(instance);
    instance.cause = cause;
    instance.targetLifecycleState = "Terminated";
    if (options.decrement) g.desired = Math.max(g.min, g.desired - 1);
    setLifecycle(instance, "Terminating");
    const afterDrain = () => {
      const hook = g.hooks.find((h) => h.transition === "autoscaling:EC2_INSTANCE_TERMINATING");
      if (hook && !options.skipDrain) return startAction(instance, hook);
      setLifecycle(instance, "Terminating:Proceed");
      void finalTermination(instance);
    };
    const registered = g.targetGroupArns.flatMap((arn) => elbv2.targetsOfInstance(arn, instance.id).map((t) => ({ arn, port: t.port })));
    let pending = registered.length;
    if (pending === 0) afterDrain();
    for (const { arn, port } of registered) {
      elbv2.deregister(arn, instance.id, port, () => {
        pending -= 1;
        if (pending === 0) afterDrain();
      });
    }
    reconcile(g);
  }

  async function finalTermination(instance: TwinInstance): Promise<void> {
    instance.ec2State = "shutting-down";
    try {
      await deps.stop(instance);
    } catch (error) {
      say(instance, `stopping it failed: ${(error as Error).message}`);
    }
    instance.ec2State = "terminated";
    instance.host = null;
    setLifecycle(instance, "Terminated");
  }

  /** Launches what is missing to reach the desired capacity; terminates the newest when above it (judgement: AWS's default policy balances zones first, then the oldest launch template). */
  function reconcile(g: Group): void {
    const members = [...g.instances].map((id) => instances.get(id)!).filter(live);
    for (let missing = g.desired - members.length; missing > 0; missing -= 1) void launch(g, g.launchCause);
    for (const extra of members.slice(g.desired).reverse()) terminate(extra, "scale in");
  }

  /** ELB health: after the grace period, an InService instance whose target any of the group's target groups reports unhealthy is Unhealthy, terminated and replaced (ec2-auto-scaling-health-checks.html). */
  function sweep(g: Group): void {
    if (g.healthCheckType !== "ELB") return;
    for (const id of g.instances) {
      const instance = instances.get(id)!;
      if (instance.lifecycleState !== "InService" || instance.inServiceAt === null) continue;
      if (clock.now() < instance.inServiceAt + g.gracePeriodSeconds) continue;
      const unhealthy = g.targetGroupArns.some((arn) => elbv2.targetsOfInstance(arn, id).some((t) => t.state === "unhealthy"));
      if (unhealthy) markUnhealthy(instance, "the load balancer reports the target unhealthy");
    }
  }

  function markUnhealthy(instance: TwinInstance, why: string): void {
    if (!live(instance) || instance.healthStatus === "Unhealthy") return;
    instance.healthStatus = "Unhealthy";
    say(instance, `Unhealthy: ${why}`);
    terminate(instance, `replaced: ${why}`);
  }

  function instanceOf(id: string | undefined): TwinInstance {
    const found = id ? instances.get(id) : undefined;
    // The message AWS gives for an instance that is not in any group (judgement on the wording of the detail).
    if (!found || found.lifecycleState === "Terminated") throw new AwsError("ValidationError", `Instance Id not found - No managed instance found for instance ID: ${id ?? "(none)"}`);
    return found;
  }

  /** The active lifecycle action named by instance ID or token, or AWS's refusal (API_CompleteLifecycleAction.html, API_RecordLifecycleActionHeartbeat.html). */
  function activeAction(params: QueryParams): TwinInstance {
    const g = group(params.required("AutoScalingGroupName"));
    const hookName = params.required("LifecycleHookName");
    if (!g.hooks.some((h) => h.name === hookName)) throw new AwsError("ValidationError", `No Lifecycle Hook found with name ${hookName} for group ${g.name}`);
    const instanceId = params.get("InstanceId");
    const token = params.get("LifecycleActionToken");
    if (!instanceId && !token) throw new AwsError("ValidationError", "Either the InstanceId or the LifecycleActionToken must be specified");
    const found = [...g.instances].map((id) => instances.get(id)!).find((i) => i.action && i.action.hook.name === hookName && (instanceId ? i.id === instanceId : true) && (token ? i.action.token === token : true));
    if (!found) throw new AwsError("ValidationError", instanceId ? `No active Lifecycle Action found with instance ID ${instanceId}` : `No active Lifecycle Action found with token ${token}`);
    return found;
  }

  function describeInstance(i: TwinInstance): XmlValue {
    return { InstanceId: i.id, AutoScalingGroupName: i.group, AvailabilityZone: i.zone, LifecycleState: i.lifecycleState, HealthStatus: i.healthStatus.toUpperCase(), ProtectedFromScaleIn: false, InstanceType: "t3.small" };
  }

  const api = {
    groups,
    instances,
    /** Called on every lifecycle change (the harness's figures, tests awaiting a state). */
    onChange(listener: (instance: TwinInstance) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    createGroup(options: GroupOptions, launchCause = "launched by the group"): Group {
      if (groups.has(options.name)) throw new AwsError("AlreadyExists", `AutoScalingGroup by this name already exists - A group with the name ${options.name} already exists`);
      if (!(options.min <= options.desired && options.desired <= options.max)) throw new AwsError("ValidationError", `Desired capacity:${options.desired} must be between the specified min size:${options.min} and max size:${options.max}`);
      const g: Group = {
        name: options.name,
        min: options.min,
        max: options.max,
        desired: options.desired,
        healthCheckType: options.healthCheckType ?? "EC2",
        gracePeriodSeconds: options.gracePeriodSeconds ?? AWS_DEFAULT_GRACE_SECONDS,
        targetGroupArns: options.targetGroupArns ?? [],
        zones: options.zones,
        tags: options.tags ?? {},
        hooks: (options.hooks ?? []).map((h) => ({ name: h.name ?? "hook", transition: h.transition ?? "autoscaling:EC2_INSTANCE_TERMINATING", heartbeatTimeoutSeconds: h.heartbeatTimeoutSeconds ?? AWS_DEFAULT_HEARTBEAT_SECONDS, defaultResult: h.defaultResult ?? "ABANDON" })),
        instances: new Set(),
        launchCause,
      };
      for (const arn of g.targetGroupArns) if (!elbv2.groups.has(arn)) throw new AwsError("ValidationError", `Provided Target Groups may not be valid. Please ensure they exist and try again: ${arn}`);
      groups.set(g.name, g);
      clock.every(options.healthSweepSeconds ?? 10, () => sweep(g));
      reconcile(g);
      return g;
    },
    /** From now on, launches are outside any stack operation (the stack settled). */
    setLaunchCause(name: string, cause: string): void {
      group(name).launchCause = cause;
    },
    setDesired(name: string, desired: number): void {
      const g = group(name);
      // "New SetDesiredCapacity value 5 is above max value 4 for the AutoScalingGroup." (API_SetDesiredCapacity.html errors: ValidationError)
      if (desired > g.max) throw new AwsError("ValidationError", `New SetDesiredCapacity value ${desired} is above max value ${g.max} for the AutoScalingGroup.`);
      if (desired < g.min) throw new AwsError("ValidationError", `New SetDesiredCapacity value ${desired} is below min value ${g.min} for the AutoScalingGroup.`);
      g.desired = desired;
      reconcile(g);
    },
    terminate: (id: string, cause: string, decrement = false) => terminate(instanceOf(id), cause, { decrement }),
    markUnhealthy: (id: string, why: string) => markUnhealthy(instanceOf(id), why),
    handle(action: string, params: QueryParams): XmlValue {
      switch (action) {
        case "CompleteLifecycleAction": {
          const result = params.required("LifecycleActionResult");
          if (result !== "CONTINUE" && result !== "ABANDON") throw new AwsError("ValidationError", `Invalid LifecycleActionResult ${result}: must be CONTINUE or ABANDON`);
          const instance = activeAction(params);
          say(instance, `CompleteLifecycleAction ${result} (${instance.action!.hook.name})`);
          finishAction(instance, result);
          return {};
        }
        case "RecordLifecycleActionHeartbeat": {
          const instance = activeAction(params);
          const action = instance.action!;
          // "This extends the timeout by the length of time defined using the PutLifecycleHook API call" (API_RecordLifecycleActionHeartbeat.html).
          clock.cancel(action.heartbeat);
          action.heartbeat = clock.after(action.hook.heartbeatTimeoutSeconds, () => {
            if (instance.action !== action) return;
            say(instance, `lifecycle hook ${action.hook.name} timed out: default result ${action.hook.defaultResult}`);
            finishAction(instance, action.hook.defaultResult);
          });
          say(instance, `heartbeat (${action.hook.name})`);
          return {};
        }
        case "SetInstanceHealth": {
          const instance = instanceOf(params.required("InstanceId"));
          const status = params.required("HealthStatus");
          if (status !== "Healthy" && status !== "Unhealthy") throw new AwsError("ValidationError", `Valid instance health states are: [Healthy, Unhealthy]`);
          // ShouldRespectGracePeriod defaults to true: within the grace period the call does not change the health (API_SetInstanceHealth.html).
          const respect = params.get("ShouldRespectGracePeriod") !== "false";
          const g = groups.get(instance.group)!;
          const inGrace = instance.inServiceAt === null || clock.now() < instance.inServiceAt + g.gracePeriodSeconds;
          if (status === "Unhealthy" && !(respect && inGrace)) markUnhealthy(instance, "SetInstanceHealth Unhealthy");
          return {};
        }
        case "SetDesiredCapacity":
          api.setDesired(params.required("AutoScalingGroupName"), Number(params.required("DesiredCapacity")));
          return {};
        case "TerminateInstanceInAutoScalingGroup": {
          const instance = instanceOf(params.required("InstanceId"));
          terminate(instance, "TerminateInstanceInAutoScalingGroup", { decrement: params.required("ShouldDecrementDesiredCapacity") === "true" });
          return { Activity: { ActivityId: randomUUID(), AutoScalingGroupName: instance.group, Cause: "terminate", StatusCode: "InProgress", StartTime: new Date().toISOString(), Progress: 0 } };
        }
        case "DescribeAutoScalingInstances": {
          const ids = params.list("InstanceIds").map((p) => p.get("")!);
          const chosen = [...instances.values()].filter((i) => i.lifecycleState !== "Terminated" && (ids.length === 0 || ids.includes(i.id)));
          return { AutoScalingInstances: chosen.map(describeInstance) };
        }
        default:
          throw new AwsError("InvalidAction", `The action ${action} is not valid for this web service (the twin models CompleteLifecycleAction, RecordLifecycleActionHeartbeat, SetInstanceHealth, SetDesiredCapacity, TerminateInstanceInAutoScalingGroup, DescribeAutoScalingInstances)`);
      }
    },
  };
  return api;
}

export type AutoScaling = ReturnType<typeof createAutoScaling>;

// Step, launch: complete the group's launching lifecycle action once this instance serves (CONTINUE), ABANDON when a step failed; once per instance.
// While the action is pending the instance is in Pending:Wait: out of the target group and out of the health-check grace, so a long
// migration or lock wait (heartbeated by the migrate step) is never cut by it. Completed after start (the app answers its health check)
// and before verify: the group then registers the target on its way to InService, verify waits for it to be healthy under the grace,
// and signal sends SUCCESS last, so CreationPolicy and a rolling update's WaitOnResourceSignals count exactly the instances that serve.
// https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks-overview.html ("Pending:Wait" … "Pending:Proceed"),
// https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CompleteLifecycleAction.html
import { z } from "zod";
import type { AgentAction } from "../../compose/actions.ts";
import type { Config } from "../config.ts";
import type { StepError } from "../errors.ts";
import { readRecordFile } from "../record-file.ts";
import type { Identity, Step } from "../step.ts";
import { stateFile } from "../state-files.ts";

export const LaunchRecordSchema = z.strictObject({ instanceId: z.string().min(1), hook: z.string().min(1), result: z.enum(["CONTINUE", "ABANDON"]), at: z.iso.datetime() });
export type LaunchRecord = z.infer<typeof LaunchRecordSchema>;

/** AWS's refusal when the instance has no pending action for the hook (launched before the hook existed, or completed already): nothing to complete. */
export const NO_ACTIVE_ACTION = "No active Lifecycle Action found";

export interface LaunchSeen {
  instanceId: string | null;
  recorded: LaunchRecord | null;
  now: string;
}

function hookOf(config: Config): { group: string; hook: string } | null {
  return config.mode === "aws" && config.autoScalingGroup && config.launchHook ? { group: config.autoScalingGroup, hook: config.launchHook } : null;
}

/** Pure: the CompleteLifecycleAction call (a missing action is nothing to do) and its record; none without a launching hook. */
export function launchActions(config: Config, instanceId: string, result: "CONTINUE" | "ABANDON", now: string): AgentAction[] {
  const hook = hookOf(config);
  if (!hook) return [];
  const record: LaunchRecord = { instanceId, hook: hook.hook, result, at: now };
  return [
    {
      kind: "aws",
      call: "autoscaling:CompleteLifecycleAction",
      input: { AutoScalingGroupName: hook.group, LifecycleHookName: hook.hook, InstanceId: instanceId, LifecycleActionResult: result },
      next: "grant autoscaling:CompleteLifecycleAction on the group to the instance role, and check autoScalingGroup and launchHook",
      nothingToDo: { code: "ValidationError", message: NO_ACTIVE_ACTION, note: `no ${result} to send: the group has no pending launching action for this instance (launched before the hook existed, or completed already)` },
    },
    { kind: "write", path: stateFile(config.stateDir, "launch"), content: `${JSON.stringify(record)}\n`, mode: 0o644 },
  ];
}

/** Pure: the heartbeat the migrate action repeats while it copies or waits for the lock; null without a launching hook. */
export function launchHeartbeat(config: Config, instanceId: string): { call: string; input: unknown; everySeconds: number } | null {
  const hook = hookOf(config);
  if (!hook) return null;
  return { call: "autoscaling:RecordLifecycleActionHeartbeat", input: { AutoScalingGroupName: hook.group, LifecycleHookName: hook.hook, InstanceId: instanceId }, everySeconds: config.launchHeartbeatSeconds };
}

export function planLaunch(seen: LaunchSeen, config: Config): AgentAction[] {
  if (!seen.instanceId) return [];
  const done = seen.recorded?.instanceId === seen.instanceId && seen.recorded.hook === config.launchHook;
  return done ? [] : launchActions(config, seen.instanceId, "CONTINUE", seen.now);
}

/** Pure: after a failed step, ABANDON (the group terminates this instance and launches another) unless the action was completed already. */
export function planFailureLaunch(config: Config, identity: Identity | null, recorded: LaunchRecord | null, failure: StepError, now: string): AgentAction[] {
  if (!identity || failure.step === "launch" || recorded?.instanceId === identity.instanceId) return [];
  return launchActions(config, identity.instanceId, "ABANDON", now);
}

export function readLaunchRecord(stateDir: string): LaunchRecord | null {
  return readRecordFile(stateFile(stateDir, "launch"), LaunchRecordSchema, "remove it and re-run");
}

export const launchStep: Step<LaunchSeen> = {
  name: "launch",
  async observe(ctx) {
    return { instanceId: ctx.identity?.instanceId ?? null, recorded: readLaunchRecord(ctx.config.stateDir), now: new Date().toISOString() };
  },
  plan: planLaunch,
};

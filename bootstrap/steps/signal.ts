// Step 7, signal: tell CloudFormation this instance is up (SignalResource SUCCESS, UniqueId = instance ID), once; FAILURE as soon as a step fails; a stack not waiting for a signal is nothing to signal.
import { z } from "zod";
import { readRecordFile } from "../record-file.ts";
import type { AgentAction } from "../../compose/actions.ts";
import type { Config } from "../config.ts";
import type { StepError } from "../errors.ts";
import type { Identity, Step } from "../step.ts";
import { stateFile } from "../state-files.ts";

export const SignalRecordSchema = z.strictObject({
  instanceId: z.string().min(1),
  status: z.enum(["SUCCESS", "FAILURE"]),
  at: z.iso.datetime(),
  stackName: z.string().min(1),
  logicalResourceId: z.string().min(1),
  /** "signalled": CloudFormation took the signal; "not-waiting": the stack was not waiting for one (absent in records of older agents: signalled). */
  outcome: z.enum(["signalled", "not-waiting"]).optional(),
});
export type SignalRecord = z.infer<typeof SignalRecordSchema>;

export function readSignalRecord(stateDir: string): SignalRecord | null {
  return readRecordFile(stateFile(stateDir, "signal"), SignalRecordSchema, "remove it and re-run");
}

export interface SignalSeen {
  instanceId: string | null;
  recorded: SignalRecord | null;
  now: string;
}

/**
 * CloudFormation counts signals only while the group waits for them (CreationPolicy during the create, WaitOnResourceSignals during
 * a rolling update). An instance launched at any other time (scale-out, a replacement, AZ rebalancing: most instances in a fleet's
 * life) is answered "ValidationError: Stack <name> is in CREATE_COMPLETE state and cannot be signaled" (HTTP 400). That is nothing
 * to signal, not a failure of the instance: recorded as such, and the agent carries on (to supervise). Other refusals stay errors.
 */
export const NOT_WAITING = { code: "ValidationError", message: "is in [A-Z_]+ state and cannot be signaled", note: "the stack was not waiting for a signal: nothing to signal" };

/** Pure: the SignalResource call, with its outcome recorded; none in local mode or without a stack to signal. */
export function signalActions(config: Config, instanceId: string, status: "SUCCESS" | "FAILURE", now: string): AgentAction[] {
  if (config.mode !== "aws" || !config.stackName || !config.logicalResourceId) return [];
  const record = (outcome: NonNullable<SignalRecord["outcome"]>): string => `${JSON.stringify(SignalRecordSchema.parse({ instanceId, status, at: now, stackName: config.stackName, logicalResourceId: config.logicalResourceId, outcome }))}\n`;
  return [
    {
      kind: "aws",
      call: "cloudformation:SignalResource",
      input: { StackName: config.stackName, LogicalResourceId: config.logicalResourceId, UniqueId: instanceId, Status: status },
      next: "grant cloudformation:SignalResource on the stack to the instance role, and check stackName and logicalResourceId",
      nothingToDo: NOT_WAITING,
      record: { path: stateFile(config.stateDir, "signal"), accepted: record("signalled"), nothingToDo: record("not-waiting") },
    },
  ];
}

export function planSignal(seen: SignalSeen, config: Config): AgentAction[] {
  if (!seen.instanceId) return [];
  const done = seen.recorded?.status === "SUCCESS" && seen.recorded.instanceId === seen.instanceId && seen.recorded.stackName === config.stackName && seen.recorded.logicalResourceId === config.logicalResourceId;
  return done ? [] : signalActions(config, seen.instanceId, "SUCCESS", seen.now);
}

/** Pure: what to do when a step failed — signal FAILURE at once (so a bad instance fails the deployment in minutes), unless the identity is unknown. */
export function planFailureSignal(config: Config, identity: Identity | null, failure: StepError, now: string): AgentAction[] {
  if (!identity || failure.step === "signal") return [];
  return signalActions(config, identity.instanceId, "FAILURE", now);
}

export const signalStep: Step<SignalSeen> = {
  name: "signal",
  async observe(ctx) {
    return { instanceId: ctx.identity?.instanceId ?? null, recorded: readSignalRecord(ctx.config.stateDir), now: new Date().toISOString() };
  },
  plan: planSignal,
};

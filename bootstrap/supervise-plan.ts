// Supervise's decisions as data: from what one poll observed (health, lifecycle, a stop request) to the actions to take. Pure, tested without a machine.
import { describeAgentAction, type AgentAction, type BalancerTarget } from "../compose/actions.ts";
import { imageRefString, type StackModel } from "../compose/model.ts";
import type { Config } from "./config.ts";
import type { LocalHealth } from "./health.ts";
import { targetProbeName } from "./adapters/balancer.ts";
import type { TargetHealth } from "./adapters/aws.ts";

export interface SuperviseState {
  /** Failed polls in a row since the last healthy one or the last restart. */
  failures: number;
  /** Restarts since the stack was last healthy. */
  restarts: number;
  /** SetInstanceHealth Unhealthy was sent: the group will replace this instance. */
  reportedUnhealthy: boolean;
  /** The image of the interrupted update supervise set out to finish: tried once, never again in a loop. */
  finishing: string | null;
}

export const INITIAL_STATE: SuperviseState = { failures: 0, restarts: 0, reportedUnhealthy: false, finishing: null };

export interface SuperviseObservation {
  health: LocalHealth;
  /** IMDS autoscaling/target-lifecycle-state ("InService", "Terminated", …); null off EC2 or when IMDS has none. */
  lifecycle: string | null;
  /** A signal asked supervise to stop (systemd stop, Ctrl-C). */
  stopRequested: string | null;
  /** The periodic check of the database secret rewrote database.env (RDS rotated the password): the container still holds the old one. */
  databaseRotated?: boolean;
  /** The load balancer's view of this target (ELBv2 DescribeTargetHealth, HAProxy's stat); null without a balancer or when it could not be read. */
  target?: TargetHealth | null;
  /** An update a deploy left half-done: state.json records it pending while no deploy holds the host lock (a killed bootstrap or compose up); null: none. */
  interruptedUpdate?: StackModel | null;
}

export interface SuperviseContext {
  config: Config;
  instanceId: string;
  /** The model last recorded as good in the state directory. */
  model: StackModel;
  /** "elbv2:<arn>" when a target group is configured. */
  balancer: string | null;
}

/** Supervise's own action beside the shared vocabulary: re-run the database step (observe the secret, plan, perform), so a rotated RDS password reaches database.env before the container is recreated. */
export interface RefreshDatabaseAction {
  kind: "refresh-database";
  purpose: string;
}
export type SuperviseAction = AgentAction | RefreshDatabaseAction;

export function describeSuperviseAction(action: SuperviseAction): string {
  return action.kind === "refresh-database" ? `refresh database.env from the current secret (${action.purpose})` : describeAgentAction(action);
}

/** PostgreSQL is configured (the same all-or-none settings the database step reads). */
export function databaseConfigured(config: Config): boolean {
  return config.databaseSecretArn !== null && config.databaseEndpoint !== null;
}

export interface Decision {
  state: SuperviseState;
  actions: SuperviseAction[];
  /** Stop supervising after the actions. */
  exit: boolean;
  /** What happened, for the log; null when nothing worth a line. */
  note: string | null;
}

/** The instance is being terminated by its group (IMDS shows the target state "Terminated" once the instance enters Terminating:Wait). */
export function terminating(lifecycle: string | null): boolean {
  return lifecycle !== null && /^Terminat/.test(lifecycle);
}

/** Leave the target group and wait until it no longer sends traffic (its deregistration delay is the drain), stop the stack, then let the group go on. */
export function planShutdown(ctx: SuperviseContext, lifecycleTermination: boolean): AgentAction[] {
  const actions: AgentAction[] = [];
  const target: BalancerTarget = { id: ctx.instanceId, port: ctx.model.port.host };
  if (ctx.balancer) {
    actions.push(
      { kind: "balancer", op: "deregister", balancer: ctx.balancer, target },
      { kind: "wait", until: targetProbeName("target-gone", ctx.balancer, target), deadlineMs: Math.max(ctx.config.verifyWaitSeconds, ctx.model.drainSeconds) * 1000 },
    );
  }
  actions.push({ kind: "stack-down", stateDir: ctx.config.stateDir, project: ctx.model.project, purpose: "stop the stack (the server drains in-flight requests first)" });
  if (lifecycleTermination && ctx.config.autoScalingGroup && ctx.config.lifecycleHook) {
    actions.push({
      kind: "aws",
      call: "autoscaling:CompleteLifecycleAction",
      input: { AutoScalingGroupName: ctx.config.autoScalingGroup, LifecycleHookName: ctx.config.lifecycleHook, InstanceId: ctx.instanceId, LifecycleActionResult: "CONTINUE" },
      next: "grant autoscaling:CompleteLifecycleAction to the instance role; the group goes on at the hook's timeout anyway",
    });
  }
  return actions;
}

/**
 * Replace the container with a new one of the recorded model through compose/'s runner (its host lock, its swap): the
 * new one starts beside the old one, is gated on its health, then the old one hands over and stops, so a hung server is
 * replaced without a gap (an exited one is removed and a fresh one started, gated the same way). With PostgreSQL,
 * database.env is refreshed first: the new container is created from it, so a rotated password is picked up.
 */
export function planRestart(ctx: SuperviseContext, reason = "restart: the health check kept failing"): SuperviseAction[] {
  const refresh: SuperviseAction[] = databaseConfigured(ctx.config) ? [{ kind: "refresh-database", purpose: "RDS may have rotated the password" }] : [];
  return [...refresh, { kind: "stack-replace", stateDir: ctx.config.stateDir, model: ctx.model, reason }];
}

export function decide(state: SuperviseState, seen: SuperviseObservation, ctx: SuperviseContext): Decision {
  const byGroup = terminating(seen.lifecycle);
  if (seen.stopRequested || byGroup) {
    const why = byGroup ? `the group is terminating this instance (lifecycle ${seen.lifecycle})` : `${seen.stopRequested} received`;
    return { state, actions: planShutdown(ctx, byGroup), exit: true, note: `${why}: ${ctx.balancer ? "leaving the target group, draining, " : ""}stopping the stack${byGroup && ctx.config.lifecycleHook ? ", then completing the lifecycle action" : ""}` };
  }
  if (seen.databaseRotated) {
    const restart = planRestart(ctx, "database.env rewritten after a rotation of the secret").filter((action) => action.kind !== "refresh-database");
    return { state: { ...state, failures: 0 }, actions: restart, exit: false, note: "the database secret changed (RDS rotated the password): database.env rewritten, replacing the container with one that reads it (beside the old one, no gap)" };
  }
  if (seen.health.healthy) {
    const recovered = state.failures > 0 || state.restarts > 0;
    const next = { ...state, failures: 0, restarts: 0 };
    // Healthy but not in the target group: a supervisor stopped before this one deregistered the target (its own drain on stop), or
    // an operator did. Nobody else puts it back (the group registers only at launch), so a healthy instance would serve nobody.
    // On AWS only while IMDS says InService: an unreadable lifecycle (null) might hide a termination whose drain removed the target.
    const inService = ctx.config.mode !== "aws" || seen.lifecycle === "InService";
    if (ctx.balancer && inService && seen.target?.state === "unregistered") {
      return { state: next, actions: [{ kind: "balancer", op: "register", balancer: ctx.balancer, target: { id: ctx.instanceId, port: ctx.model.port.host } }], exit: false, note: `healthy but the load balancer does not list this instance (${seen.target.reason ?? "unregistered"}): registering it again` };
    }
    // An update a killed deploy left half-done (both versions may serve): finished as a re-run of that deploy would,
    // through the runner (its lock, its gate: a version that fails it is stopped alone, the recorded one serving). Once.
    const interrupted = seen.interruptedUpdate;
    if (interrupted && state.finishing !== imageRefString(interrupted.image)) {
      return {
        state: { ...next, finishing: imageRefString(interrupted.image) },
        actions: [{ kind: "stack-up", stateDir: ctx.config.stateDir, model: interrupted, purpose: "finish the update a deploy left half-done" }],
        exit: false,
        note: `an update to ${imageRefString(interrupted.image)} was left half-done (state.json records it pending; no deploy holds the host lock): finishing it, as a re-run of that deploy would`,
      };
    }
    return { state: next, actions: [], exit: false, note: recovered ? "healthy again" : null };
  }
  const failures = state.failures + 1;
  const config = ctx.config;
  if (failures < config.superviseFailuresBeforeRestart) {
    return { state: { ...state, failures }, actions: [], exit: false, note: `health check failed (${seen.health.detail}), ${failures} of ${config.superviseFailuresBeforeRestart} before a restart` };
  }
  if (state.restarts >= config.superviseRestartsBeforeUnhealthy && config.mode === "aws" && config.autoScalingGroup) {
    if (state.reportedUnhealthy) return { state: { ...state, failures }, actions: [], exit: false, note: `still unhealthy (${seen.health.detail}); waiting for the group to replace this instance` };
    return {
      state: { ...state, failures, reportedUnhealthy: true },
      actions: [{ kind: "aws", call: "autoscaling:SetInstanceHealth", input: { InstanceId: ctx.instanceId, HealthStatus: "Unhealthy", ShouldRespectGracePeriod: false }, next: "grant autoscaling:SetInstanceHealth to the instance role" }],
      exit: false,
      note: `unhealthy after ${state.restarts} restart(s) (${seen.health.detail}): asking the group to replace this instance`,
    };
  }
  return {
    state: { ...state, failures: 0, restarts: state.restarts + 1 },
    actions: planRestart(ctx),
    exit: false,
    note: `unhealthy for ${failures} polls (${seen.health.detail}): restarting the stack (restart ${state.restarts + 1})`,
  };
}

/** Pure: the state after an action failed. A SetInstanceHealth that did not get through is sent again at the next poll that still finds the stack unhealthy (the group never heard it). */
export function afterFailedAction(state: SuperviseState, action: SuperviseAction): SuperviseState {
  return action.kind === "aws" && action.call === "autoscaling:SetInstanceHealth" ? { ...state, reportedUnhealthy: false } : state;
}

// Step 5, start: bring this instance's stack (its own Compose project, on its own port) to the model through compose/'s runner: pull by digest, health-gated up, rollback.
import type { AgentAction } from "../../compose/actions.ts";
import { imageRefString, type StackModel } from "../../compose/model.ts";
import { createRunner } from "../../compose/runner.ts";
import type { Config } from "../config.ts";
import { observePort, portRefusal, type PortSeen } from "../port-check.ts";
import { observeHostResources, stackModel, wantedImage } from "../stack.ts";
import type { Step } from "../step.ts";
import { launchHeartbeat } from "./launch.ts";

/** In a dry run of a fresh local instance the image is not built yet: the plan shows this placeholder. */
export const IMAGE_NOT_BUILT = `codedetect-local:not-built-yet@sha256:${"0".repeat(64)}`;

export interface StartSeen {
  model: StackModel;
  /** Why an `up` is needed, or null when the stack already runs this model, healthy, and it is recorded. */
  reason: string | null;
  /** Who holds the port the stack publishes (with the instance tags applied): someone else's is refused before `up`. */
  port: PortSeen;
  /** This instance, for the launching hook's heartbeat while the stack comes up (before the launch step completes the hook). */
  instanceId?: string | null;
}

/** Pure: what the runner's own plan says, as one reason (or none). */
export function upReason(plan: { pull: unknown[]; start: unknown[]; record: AgentAction[] }, service: { state: string; health: string; image: string } | null): string | null {
  if (plan.start.length > 0) return service ? `the service is ${service.state}, health ${service.health}, on ${service.image}` : "no container yet";
  if (plan.pull.length > 0) return "the image is not in the local image store";
  if (plan.record.some((action) => action.kind === "write")) return "it runs healthy but is not recorded as the rollback target";
  return null;
}

export function planStart(seen: StartSeen, config: Config): AgentAction[] {
  if (seen.reason === null) return [];
  const refusal = portRefusal(seen.port, config);
  if (refusal) throw refusal;
  const heartbeat = seen.instanceId ? launchHeartbeat(config, seen.instanceId) : null;
  return [{ kind: "stack-up", stateDir: config.stateDir, model: seen.model, purpose: seen.reason, ...(heartbeat ? { heartbeat } : {}) }];
}

export const startStep: Step<StartSeen> = {
  name: "start",
  async observe(ctx) {
    const model = stackModel(ctx.config, ctx.identity, wantedImage(ctx.config) ?? IMAGE_NOT_BUILT, observeHostResources());
    const port = await observePort(ctx.config, model.project);
    const instanceId = ctx.identity?.instanceId ?? null;
    if (model.image.tag === "not-built-yet") return { model, reason: "the image is built above", port, instanceId };
    const { observed, plan } = await createRunner({ stateDir: ctx.config.stateDir }).plan(model);
    return { model, reason: upReason(plan, observed.service), port, instanceId };
  },
  plan: planStart,
};

export function describeModel(model: StackModel): string {
  return `${model.project} ${imageRefString(model.image)}`;
}

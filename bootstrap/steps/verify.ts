// Step 6, verify: the local health check passes and, when a target group is configured, the load balancer reports this target healthy (bounded waits).
import type { AgentAction, BalancerTarget } from "../../compose/actions.ts";
import type { ProbeResult } from "../../compose/executor.ts";
import { balancerSpec, createBalancer, parseTargetProbeName, targetProbeName } from "../adapters/balancer.ts";
import type { TargetHealth } from "../adapters/aws.ts";
import type { Config } from "../config.ts";
import { checkHealth, type LocalHealth } from "../health.ts";
import { localUrl } from "../stack.ts";
import type { Step } from "../step.ts";

export interface VerifySeen {
  url: string;
  local: LocalHealth;
  /** The load balancer's view of this target; null without one (local mode, no target group). */
  balancer: { spec: string; target: BalancerTarget; health: TargetHealth } | null;
}

export const LOCAL_HEALTH_PROBE = "local-healthy:";

/** Pure: wait for what is not healthy yet; register the target first when the group does not list it. */
export function planVerify(seen: VerifySeen, config: Config): AgentAction[] {
  const deadlineMs = config.verifyWaitSeconds * 1000;
  const actions: AgentAction[] = [];
  if (!seen.local.healthy) {
    actions.push({ kind: "wait", until: `${LOCAL_HEALTH_PROBE}${seen.url}`, deadlineMs, next: `look at the container's log (docker compose --project-name … logs) and ${seen.url}/api/health` });
  }
  if (seen.balancer && seen.balancer.health.state !== "healthy") {
    const { spec, target, health } = seen.balancer;
    if (health.state === "unregistered") actions.push({ kind: "balancer", op: "register", balancer: spec, target });
    actions.push({
      kind: "wait",
      until: targetProbeName("target-healthy", spec, target),
      deadlineMs,
      next: "check the target group's health check (path /api/health, port) and the security group between the load balancer and this instance",
    });
  }
  return actions;
}

/** Pure: a target health as a probe result; "unhealthy" is still pending (the balancer needs its threshold of passes). */
export function targetVerdict(health: TargetHealth, want: "healthy" | "gone"): ProbeResult {
  const detail = `${health.state}${health.reason ? ` (${health.reason})` : ""}`;
  if (want === "healthy") return health.state === "healthy" ? { state: "done" } : { state: "pending", detail };
  return health.state === "unregistered" || health.state === "unused" ? { state: "done" } : { state: "pending", detail };
}

export const verifyStep: Step<VerifySeen> = {
  name: "verify",
  async observe(ctx) {
    const url = localUrl(ctx.config);
    const spec = balancerSpec(ctx.config);
    let balancer: VerifySeen["balancer"] = null;
    if (spec) {
      const target = { id: ctx.identity?.instanceId ?? "unknown", port: ctx.config.port };
      balancer = { spec, target, health: await createBalancer(spec, () => ctx.aws()).health(target) };
    }
    return { url, local: await checkHealth(url), balancer };
  },
  probe(name, ctx) {
    if (name.startsWith(LOCAL_HEALTH_PROBE)) {
      const url = name.slice(LOCAL_HEALTH_PROBE.length);
      return async () => {
        const health = await checkHealth(url);
        return health.healthy ? { state: "done" } : { state: "pending", detail: health.detail };
      };
    }
    const parsed = parseTargetProbeName(name);
    if (!parsed) return undefined;
    const balancer = createBalancer(parsed.spec, () => ctx.aws());
    return async () => targetVerdict(await balancer.health(parsed.target), parsed.kind === "target-healthy" ? "healthy" : "gone");
  },
  plan: planVerify,
};

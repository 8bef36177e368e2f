// The load-balancer seam: one small interface, the ELBv2 target group behind it today (an HAProxy runtime-API adapter can stand beside it).
import type { BalancerTarget } from "../../compose/actions.ts";
import type { AwsAdapter, TargetHealth } from "./aws.ts";
import { createHaproxyBalancer } from "./haproxy.ts";

export interface Balancer {
  /** "elbv2:<target group ARN>": what actions and probes name. */
  spec: string;
  health(target: BalancerTarget): Promise<TargetHealth>;
  register(target: BalancerTarget): Promise<void>;
  deregister(target: BalancerTarget): Promise<void>;
}

/** The balancer spec for a configured target group, or null (local mode, or no target group). A target group given as "haproxy:…" is an HAProxy server, in either mode. */
export function balancerSpec(config: { mode: string; targetGroupArn: string | null }): string | null {
  if (config.targetGroupArn?.startsWith("haproxy:")) return config.targetGroupArn;
  return config.mode === "aws" && config.targetGroupArn ? `elbv2:${config.targetGroupArn}` : null;
}

export function createBalancer(spec: string, aws: () => Promise<AwsAdapter>): Balancer {
  const colon = spec.indexOf(":");
  const kind = spec.slice(0, colon);
  const where = spec.slice(colon + 1);
  if (kind === "elbv2") {
    const targets = (target: BalancerTarget) => ({ TargetGroupArn: where, Targets: [{ Id: target.id, Port: target.port }] });
    return {
      spec,
      health: async (target) => (await aws()).targetHealth(where, target),
      register: async (target) => (await aws()).perform("elbv2:RegisterTargets", targets(target)),
      deregister: async (target) => (await aws()).perform("elbv2:DeregisterTargets", targets(target)),
    };
  }
  if (kind === "haproxy") return createHaproxyBalancer(spec);
  throw new Error(`no load-balancer adapter for "${spec}" (known: elbv2:<target group ARN>, haproxy:<socket>/<backend>/<server>)`);
}

/** Probe names carry the balancer and the target: "target-healthy:<spec>|<id>:<port>", "target-gone:…". */
export function targetProbeName(kind: "target-healthy" | "target-gone", spec: string, target: BalancerTarget): string {
  return `${kind}:${spec}|${target.id}:${target.port}`;
}

export function parseTargetProbeName(name: string): { kind: "target-healthy" | "target-gone"; spec: string; target: BalancerTarget } | null {
  const match = /^(target-healthy|target-gone):(.+)\|([^|:]+):(\d+)$/.exec(name);
  if (!match) return null;
  return { kind: match[1] as "target-healthy" | "target-gone", spec: match[2]!, target: { id: match[3]!, port: Number(match[4]) } };
}

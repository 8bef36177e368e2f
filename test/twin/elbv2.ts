// The twin's ELBv2 target groups: target states (unused, initial, healthy, unhealthy, draining), health checks against the real instance, the data plane told which targets get traffic.
import { AwsError, type Clock, type QueryParams, type TwinEvent, type XmlValue } from "./wire.ts";

/**
 * Health-check settings, in AWS seconds. AWS's defaults for an HTTP target group of an Application Load Balancer
 * (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html):
 * interval 30 s, timeout 5 s, healthy threshold 5, unhealthy threshold 2, matcher 200, path "/".
 */
export interface HealthCheck {
  path: string;
  intervalSeconds: number;
  timeoutSeconds: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}
export const AWS_DEFAULT_HEALTH_CHECK: HealthCheck = { path: "/", intervalSeconds: 30, timeoutSeconds: 5, healthyThreshold: 5, unhealthyThreshold: 2 };
/** deregistration_delay.timeout_seconds defaults to 300 (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html#deregistration-delay). */
export const AWS_DEFAULT_DEREGISTRATION_DELAY_SECONDS = 300;

export type TargetState = "initial" | "healthy" | "unhealthy" | "unused" | "draining";

/** A target as the data plane needs it: where to send requests. */
export interface Routable {
  id: string;
  host: string;
  port: number;
}

interface Target {
  id: string;
  port: number;
  state: TargetState;
  reason: string | null;
  description: string | null;
  passes: number;
  failures: number;
  checking: NodeJS.Timeout | null;
  drainTimer: NodeJS.Timeout | null;
  /** Called once draining ends (the target is gone). */
  onGone: (() => void)[];
}

export interface TargetGroupOptions {
  name: string;
  port: number;
  healthCheck?: Partial<HealthCheck>;
  deregistrationDelaySeconds?: number;
  /** A listener forwards to the group: without one, targets are `unused` and no health checks run. */
  listener?: boolean;
  /** The data plane: called with the targets that get new requests whenever that set changes (draining targets finish in-flight requests). */
  setTargets?: (targets: Routable[]) => void;
}

export interface TargetGroup {
  arn: string;
  name: string;
  port: number;
  healthCheck: HealthCheck;
  deregistrationDelaySeconds: number;
  listener: boolean;
  targets: Map<string, Target>;
  setTargets: ((targets: Routable[]) => void) | null;
  lastRoutable: string;
}

export interface Elbv2Deps {
  clock: Clock;
  region: string;
  account: string;
  log: (event: Omit<TwinEvent, "at">) => void;
  /** The private address of a running instance, or null when no running instance has that ID. */
  hostOf: (instanceId: string) => string | null;
}

const key = (id: string, port: number) => `${id}:${port}`;

export function createElbv2(deps: Elbv2Deps) {
  const { clock } = deps;
  const groups = new Map<string, TargetGroup>();
  let counter = 0;

  function group(arn: string | undefined): TargetGroup {
    const found = arn ? groups.get(arn) : undefined;
    // https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeTargetHealth.html#API_DescribeTargetHealth_Errors
    if (!found) throw new AwsError("TargetGroupNotFound", "One or more target groups not found");
    return found;
  }

  /**
   * What the data plane may send new requests to: the healthy targets; when none is healthy, every unhealthy one ("If a target
   * group contains only unhealthy registered targets, the load balancer routes requests to all those targets, regardless of their
   * health status", target-group-health-checks.html). Initial, unused and draining targets get no new requests.
   */
  function routable(tg: TargetGroup): Routable[] {
    const all = [...tg.targets.values()];
    const healthy = all.filter((t) => t.state === "healthy");
    const chosen = healthy.length > 0 ? healthy : all.filter((t) => t.state === "unhealthy");
    return chosen.flatMap((t) => {
      const host = deps.hostOf(t.id);
      return host ? [{ id: t.id, host, port: t.port }] : [];
    });
  }

  function publish(tg: TargetGroup): void {
    const now = routable(tg);
    const signature = JSON.stringify(now);
    if (signature === tg.lastRoutable) return;
    tg.lastRoutable = signature;
    tg.setTargets?.(now);
  }

  function setState(tg: TargetGroup, target: Target, state: TargetState, reason: string | null, description: string | null): void {
    const changed = target.state !== state;
    target.state = state;
    target.reason = reason;
    target.description = description;
    if (changed) deps.log({ resource: `${tg.name}/${target.id}:${target.port}`, what: `target ${state}${reason ? ` (${reason})` : ""}` });
    publish(tg);
  }

  async function checkOnce(tg: TargetGroup, target: Target): Promise<void> {
    const host = deps.hostOf(target.id);
    const hc = tg.healthCheck;
    let failure: { reason: string; description: string } | null = null;
    if (!host) failure = { reason: "Target.FailedHealthChecks", description: "Health checks failed" };
    else {
      // The timeout runs on the twin's clock too, but never under a second of real time: a loaded test machine is not a dead target (judgement).
      const timeoutMs = Math.max(clock.ms(hc.timeoutSeconds), 1000);
      try {
        const answer = await fetch(`http://${host}:${target.port}${hc.path}`, { signal: AbortSignal.timeout(timeoutMs) });
        await answer.arrayBuffer().catch(() => undefined);
        // Matcher 200 (the template's and AWS's default).
        if (answer.status !== 200) failure = { reason: "Target.ResponseCodeMismatch", description: `Health checks failed with these codes: [${answer.status}]` };
      } catch (error) {
        failure = (error as Error).name === "TimeoutError" ? { reason: "Target.Timeout", description: "Request timed out" } : { reason: "Target.FailedHealthChecks", description: "Health checks failed" };
      }
    }
    if (!tg.targets.has(key(target.id, target.port)) || target.state === "draining" || target.state === "unused") return;
    if (failure) {
      target.passes = 0;
      target.failures += 1;
      if (target.failures >= hc.unhealthyThreshold && target.state !== "unhealthy") setState(tg, target, "unhealthy", failure.reason, failure.description);
      else if (target.state === "initial") setState(tg, target, "initial", "Elb.InitialHealthChecking", "Initial health checks in progress");
    } else {
      target.failures = 0;
      target.passes += 1;
      if (target.passes >= hc.healthyThreshold && target.state !== "healthy") setState(tg, target, "healthy", null, null);
      else if (target.state === "initial") setState(tg, target, "initial", "Elb.InitialHealthChecking", "Initial health checks in progress");
    }
  }

  function startChecks(tg: TargetGroup, target: Target): void {
    clock.cancel(target.checking);
    let running = false;
    const tick = () => {
      if (running) return;
      running = true;
      void checkOnce(tg, target).finally(() => (running = false));
    };
    target.checking = clock.every(tg.healthCheck.intervalSeconds, tick);
    tick();
  }

  function register(tg: TargetGroup, id: string, port: number, afresh = false): void {
    const existing = tg.targets.get(key(id, port));
    if (existing && existing.state !== "draining" && !afresh) return;
    if (existing) clock.cancel(existing.drainTimer);
    const target: Target = existing ?? { id, port, state: "initial", reason: null, description: null, passes: 0, failures: 0, checking: null, drainTimer: null, onGone: [] };
    target.passes = 0;
    target.failures = 0;
    target.drainTimer = null;
    tg.targets.set(key(id, port), target);
    if (!tg.listener) {
      // "Target.NotInUse - The target group is not used by any load balancer" (API_TargetHealth.html): no health checks run.
      setState(tg, target, "unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load balancer");
      return;
    }
    // Judgement: re-registering a draining target starts it afresh (initial, checks from zero).
    setState(tg, target, "initial", "Elb.RegistrationInProgress", "Target registration is in progress");
    startChecks(tg, target);
  }

  /**
   * Draining for the deregistration delay, then gone (AWS completes at once when the target has no in-flight requests or
   * connections; the twin does not see connections, so it always waits the delay — judgement, documented in README).
   */
  function deregister(tg: TargetGroup, id: string, port: number, onGone?: () => void): void {
    const target = tg.targets.get(key(id, port));
    if (!target) {
      onGone?.();
      return;
    }
    if (onGone) target.onGone.push(onGone);
    if (target.state === "draining") return;
    clock.cancel(target.checking);
    target.checking = null;
    setState(tg, target, "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress");
    target.drainTimer = clock.after(tg.deregistrationDelaySeconds, () => {
      tg.targets.delete(key(id, port));
      deps.log({ resource: `${tg.name}/${id}:${port}`, what: "deregistered (drain complete)" });
      publish(tg);
      for (const done of target.onGone.splice(0)) done();
    });
  }

  function describe(tg: TargetGroup, target: Target | null, id: string, port: number): XmlValue {
    if (!target) return { Target: { Id: id, Port: port }, HealthCheckPort: String(port), TargetHealth: { State: "unused", Reason: "Target.NotRegistered", Description: "Target is not registered to the target group" } };
    return { Target: { Id: target.id, Port: target.port }, HealthCheckPort: String(target.port), TargetHealth: { State: target.state, Reason: target.reason ?? undefined, Description: target.description ?? undefined } };
  }

  function targetsOf(params: QueryParams, tg: TargetGroup): { id: string; port: number }[] {
    const targets = params.list("Targets").map((t) => ({ id: t.required("Id"), port: Number(t.get("Port") ?? tg.port) }));
    if (targets.length === 0) throw new AwsError("ValidationError", "1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null");
    for (const t of targets) if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) throw new AwsError("ValidationError", `Port ${t.port} is not valid`);
    return targets;
  }

  return {
    groups,
    createTargetGroup(options: TargetGroupOptions): TargetGroup {
      counter += 1;
      const arn = `arn:aws:elasticloadbalancing:${deps.region}:${deps.account}:targetgroup/${options.name}/${counter.toString(16).padStart(16, "0")}`;
      const tg: TargetGroup = {
        arn,
        name: options.name,
        port: options.port,
        healthCheck: { ...AWS_DEFAULT_HEALTH_CHECK, ...options.healthCheck },
        deregistrationDelaySeconds: options.deregistrationDelaySeconds ?? AWS_DEFAULT_DEREGISTRATION_DELAY_SECONDS,
        listener: options.listener ?? true,
        targets: new Map(),
        setTargets: options.setTargets ?? null,
        lastRoutable: "",
      };
      groups.set(arn, tg);
      return tg;
    },
    register: (arn: string, id: string, port: number) => register(group(arn), id, port),
    deregister: (arn: string, id: string, port: number, onGone?: () => void) => deregister(group(arn), id, port, onGone),
    state(arn: string, id: string, port: number): TargetState | "unregistered" {
      return group(arn).targets.get(key(id, port))?.state ?? "unregistered";
    },
    /** The targets of one instance in a group (any port). */
    targetsOfInstance(arn: string, id: string): { port: number; state: TargetState }[] {
      return [...group(arn).targets.values()].filter((t) => t.id === id).map((t) => ({ port: t.port, state: t.state }));
    },
    routable: (arn: string) => routable(group(arn)),
    /** A listener starts (or stops) forwarding to the group: unused targets become initial and are checked. */
    setListener(arn: string, on: boolean): void {
      const tg = group(arn);
      tg.listener = on;
      for (const target of [...tg.targets.values()]) if (target.state !== "draining") register(tg, target.id, target.port, true);
    },
    handle(action: string, params: QueryParams): XmlValue {
      switch (action) {
        case "DescribeTargetHealth": {
          const tg = group(params.get("TargetGroupArn"));
          const asked = params.list("Targets");
          const descriptions = asked.length > 0 ? asked.map((t) => ({ id: t.required("Id"), port: Number(t.get("Port") ?? tg.port) })).map(({ id, port }) => describe(tg, tg.targets.get(key(id, port)) ?? null, id, port)) : [...tg.targets.values()].map((t) => describe(tg, t, t.id, t.port));
          return { TargetHealthDescriptions: descriptions };
        }
        case "RegisterTargets": {
          const tg = group(params.get("TargetGroupArn"));
          const targets = targetsOf(params, tg);
          // "InvalidTarget: The specified target does not exist, is not in the same VPC as the target group, or has an unsupported
          // instance type" (API_RegisterTargets.html#API_RegisterTargets_Errors); a stopped or terminated instance is refused too.
          const invalid = targets.filter((t) => deps.hostOf(t.id) === null);
          if (invalid.length > 0) throw new AwsError("InvalidTarget", `The following targets are not in a running state and can't be registered: ${invalid.map((t) => `'${t.id}'`).join(", ")}`);
          for (const t of targets) register(tg, t.id, t.port);
          return {};
        }
        case "DeregisterTargets": {
          const tg = group(params.get("TargetGroupArn"));
          // Judgement: deregistering a target that is not registered is accepted and changes nothing (idempotent).
          for (const t of targetsOf(params, tg)) deregister(tg, t.id, t.port);
          return {};
        }
        default:
          throw new AwsError("InvalidAction", `The action ${action} is not valid for this web service (the twin models DescribeTargetHealth, RegisterTargets, DeregisterTargets)`);
      }
    },
  };
}

export type Elbv2 = ReturnType<typeof createElbv2>;

// `npm run supervise` (`agent supervise`): the long-running watch the systemd unit runs. Polls health, restarts, reports the instance unhealthy, drains and stops on SIGTERM or termination.
import { observeFiles } from "../compose/observe.ts";
import { createRunner } from "../compose/runner.ts";
import { defaultLockDir, deployInProgress } from "../compose/lock.ts";
import { statePaths } from "../compose/state.ts";
import { createImdsClient } from "./adapters/imds.ts";
import { balancerSpec, createBalancer, parseTargetProbeName } from "./adapters/balancer.ts";
import type { AwsAdapter } from "./adapters/aws.ts";
import type { Config } from "./config.ts";
import { StepError } from "./errors.ts";
import type { AgentExecutor } from "./executor.ts";
import { checkHealth } from "./health.ts";
import type { Output } from "./output.ts";
import { afterFailedAction, databaseConfigured, decide, describeSuperviseAction, INITIAL_STATE, type SuperviseContext, type SuperviseObservation } from "./supervise-plan.ts";
import { quietUnlessChanged, refreshContext, refreshDatabase } from "./supervise-refresh.ts";
import { localUrl } from "./stack.ts";
import { targetVerdict } from "./steps/verify.ts";
import { readRecordedIdentity } from "./steps/identify.ts";

export interface SuperviseOptions {
  config: Config;
  out: Output;
  executor: AgentExecutor;
  aws: () => Promise<AwsAdapter>;
}

/** How often supervise re-reads the database secret (one GetSecretValue), so a rotated password is picked up before health fails. */
export const DATABASE_SECRET_CHECK_SECONDS = 300;

/** IMDS's view of this instance in its group; null when there is none (local mode, no group, IMDS without the path). */
async function lifecycleState(config: Config, imds: ReturnType<typeof createImdsClient>): Promise<string | null> {
  if (config.mode !== "aws") return null;
  try {
    return await imds.get("/latest/meta-data/autoscaling/target-lifecycle-state");
  } catch {
    return null;
  }
}

/** Runs until a stop signal or the group's termination has been handled; returns the exit code. */
export async function supervise(options: SuperviseOptions): Promise<number> {
  const { config, out, executor } = options;
  const files = await observeFiles(statePaths(config.stateDir));
  const model = files.state?.current ?? null;
  const identity = readRecordedIdentity(config.stateDir);
  if (!model || !identity) {
    throw new StepError({ step: "supervise", action: `read ${config.stateDir}`, cause: "nothing has been brought up from this state directory yet", next: "run `npm run bootstrap` first (npm start does both)" });
  }
  await createRunner({ stateDir: config.stateDir }).tools(); // no Compose on this host: say so now, not at the first restart
  const ctx: SuperviseContext = { config, instanceId: identity.instanceId, model, balancer: balancerSpec(config) };
  const stepContext = refreshContext(config, identity, options.aws, out);
  const checkContext = { ...stepContext, out: quietUnlessChanged(out) };
  const url = localUrl(config);
  const imds = createImdsClient(config.imdsEndpoint, { attempts: 2, timeoutMs: 1000 });
  let stopRequested: string | null = null;
  let wake: (() => void) | null = null;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopRequested !== null) {
      // A second Ctrl-C: the operator will not wait for the drain.
      out.info(`supervise: ${signal} again; exiting now, the stack is left as it is`);
      process.exit(130);
    }
    out.info(`supervise: ${signal} received; stopping (again to exit at once)`);
    stopRequested = signal;
    wake?.();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  const probe = (name: string) => {
    // the restart's health gate is the runner's own (stack-replace); what is left to wait for here is the balancer
    const target = parseTargetProbeName(name);
    if (target) {
      const balancer = createBalancer(target.spec, options.aws);
      return async () => targetVerdict(await balancer.health(target.target), target.kind === "target-healthy" ? "healthy" : "gone");
    }
    return undefined;
  };
  const balancer = ctx.balancer ? createBalancer(ctx.balancer, options.aws) : null;
  let targetUnreadable: string | null = null;
  /** The balancer's view of this target; null without a balancer, or when it cannot be read (said once, not every poll). */
  const targetHealth = async () => {
    if (!balancer) return null;
    try {
      const health = await balancer.health({ id: ctx.instanceId, port: ctx.model.port.host });
      targetUnreadable = null;
      return health;
    } catch (error) {
      if (targetUnreadable === null) out.info(`supervise: cannot read the load balancer's view of this target: ${(error as Error).message}`);
      targetUnreadable = (error as Error).message;
      return null;
    }
  };
  out.info(`supervise: watching ${model.project} at ${url} every ${config.superviseIntervalSeconds} s`, { project: model.project, url });
  let state = INITIAL_STATE;
  let failedActions = 0;
  let secretCheckedAt = Date.now();
  try {
    for (;;) {
      // A deploy since the last poll (compose up of a new version) changed what "the stack" is: restart that one, never an older one.
      const recorded = (await observeFiles(statePaths(config.stateDir)).catch(() => null))?.state ?? null;
      ctx.model = recorded?.current ?? ctx.model;
      const pending = recorded?.pending ?? null;
      const interruptedUpdate = pending && !stopRequested && !(await deployInProgress(defaultLockDir())) ? pending : null;
      let databaseRotated = false;
      if (databaseConfigured(config) && !stopRequested && Date.now() - secretCheckedAt >= DATABASE_SECRET_CHECK_SECONDS * 1000) {
        secretCheckedAt = Date.now();
        databaseRotated = await refreshDatabase(checkContext, executor).then(
          (outcome) => outcome === "rewritten",
          (error: Error) => (out.info(`supervise: checking the database secret failed (kept database.env as it is): ${error.message}`), false),
        );
      }
      const seen: SuperviseObservation = { health: await checkHealth(url), lifecycle: await lifecycleState(config, imds), stopRequested, databaseRotated, target: stopRequested ? null : await targetHealth(), interruptedUpdate };
      const decision = decide(state, seen, ctx);
      state = decision.state;
      if (decision.note) out.info(`supervise: ${decision.note}`, { health: seen.health, lifecycle: seen.lifecycle });
      for (const action of decision.actions) {
        try {
          if (action.kind === "refresh-database") {
            secretCheckedAt = Date.now();
            out.info(`supervise: database step ${await refreshDatabase(stepContext, executor)}`);
          } else await executor.perform(action, probe);
        } catch (error) {
          if (decision.exit) failedActions += 1;
          state = afterFailedAction(state, action);
          // A failed restart is counted by the next polls; a failed drain step must not keep the rest of the shutdown from running; a failed refresh leaves the old env file and the restart still runs.
          out.info(`supervise: ${describeSuperviseAction(action)} failed: ${(error as Error).message}`);
        }
      }
      if (decision.exit) {
        out.info(`supervise: stopped${failedActions > 0 ? ` (${failedActions} shutdown action(s) failed, see above)` : ""}`);
        return failedActions > 0 ? 1 : 0;
      }
      if (stopRequested) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, config.superviseIntervalSeconds * 1000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = null;
    }
  } finally {
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
}

// Drives `docker compose` for one stack: observe, plan, perform; up is health-gated and rolls back to the last good version.
import fs from "node:fs/promises";
import { describePlan, type Action, type RetryPolicy } from "./actions.ts";
import { ComposeError } from "./errors.ts";
import { createExecutor, runCommand, type Executor, type Probe } from "./executor.ts";
import { healthVerdict } from "./health-gate.ts";
import { composeCandidates, findCompose, type ComposeCommand } from "./locate.ts";
import { withLock } from "./lock.ts";
import { healthDeadlineSeconds, imageRefString, type StackModel } from "./model.ts";
import { observe, projectServices, type ObserveContext } from "./observe.ts";
import {
  defaultPullRetry,
  flattenPlan,
  planDown,
  planStopFailed,
  planRecord,
  planUp,
  parseHealthProbeName,
  type Observed,
  type PlanContext,
  type RegistryAuth,
  type ServiceStatus,
  type UpPlan,
} from "./plan.ts";
import { parseState, statePaths, type DeployRecord, type StatePaths } from "./state.ts";

export interface RunnerOptions {
  /** Where compose.yaml, state.json and registry credentials live, e.g. /var/lib/codedetect. */
  stateDir: string;
  docker?: string;
  /** A standalone Compose v2 binary to try before `docker compose`. */
  composeBin?: string;
  auth?: RegistryAuth | null;
  pullRetry?: Partial<RetryPolicy>;
  pullTimeoutMs?: number;
  /** Default: derived from the model's health check (start period + retries × interval + margin). */
  healthDeadlineMs?: number;
  keep?: number;
  logTail?: number;
  dryRun?: boolean;
  log?: (line: string) => void;
  now?: () => string;
}

export interface UpResult {
  image: string;
  /** False when the stack already ran this model, healthy. */
  changed: boolean;
  actions: Action[];
}

export interface StackStatus {
  project: string;
  compose: ComposeCommand;
  composeFile: string;
  services: ServiceStatus[];
  /** The version that last passed its health gate here (the rollback target). */
  current: string | null;
  history: DeployRecord[];
}

export interface Runner {
  tools(): Promise<{ docker: string; compose: ComposeCommand }>;
  plan(model: StackModel): Promise<{ observed: Observed; plan: UpPlan }>;
  pull(model: StackModel): Promise<Action[]>;
  up(model: StackModel): Promise<UpResult>;
  status(project: string): Promise<StackStatus>;
  down(project: string): Promise<Action[]>;
  logs(project: string, service: string): Promise<string[]>;
}

export function createRunner(options: RunnerOptions): Runner {
  const docker = options.docker ?? "docker";
  const paths: StatePaths = statePaths(options.stateDir);
  const log = options.log ?? (() => {});
  const keep = options.keep ?? 3;
  let compose: ComposeCommand | null = null;

  const tools = async () => {
    compose ??= await findCompose(runCommand, composeCandidates(docker, options.composeBin));
    return { docker, compose };
  };
  const observeContext: ObserveContext = { run: runCommand, docker, paths };

  const context = async (model: StackModel): Promise<PlanContext> => ({
    tools: { docker, compose: (await tools()).compose.argv },
    paths,
    pullRetry: { ...defaultPullRetry(), ...options.pullRetry },
    pullTimeoutMs: options.pullTimeoutMs ?? 300_000,
    auth: options.auth ?? null,
    healthDeadlineMs: options.healthDeadlineMs ?? healthDeadlineSeconds(model) * 1000,
    keep,
    now: options.now?.() ?? new Date().toISOString(),
  });

  const probes = (name: string): Probe | undefined => {
    const target = parseHealthProbeName(name);
    if (!target) return undefined;
    return async () => {
      const services = await projectServices(observeContext, target.project);
      return healthVerdict(services.find((s) => s.service === target.service) ?? null, target.image);
    };
  };
  const executor: Executor = createExecutor({ probe: probes, log, dryRun: options.dryRun });

  const logs = async (project: string, service: string): Promise<string[]> => {
    const { compose } = await tools();
    const outcome = await runCommand([...compose.argv, "--project-name", project, "logs", "--no-color", "--no-log-prefix", "--tail", String(options.logTail ?? 40), service], { timeoutMs: 30_000 });
    return (outcome.stdout + outcome.stderr).split("\n").filter((line) => line.trim());
  };

  const plan = async (model: StackModel) => {
    const observed = await observe(model, observeContext);
    return { observed, plan: planUp(model, observed, await context(model)) };
  };

  /** Up binds the shared storage: refuse before touching anything when it is not there. */
  const planForUp = async (model: StackModel) => {
    const planned = await plan(model);
    const observed = planned.observed;
    if (observed.missingDirs.length > 0) {
      throw new ComposeError({
        what: `up ${imageRefString(model.image)}`,
        cause: `host directories missing: ${observed.missingDirs.join(", ")}`,
        next: `mount the shared file system at ${model.storage.efsRoot} and create codedetect/database and codedetect/uploads owned by uid 1000 (the bootstrap layout step does this), then re-run`,
        errorClass: "config",
      });
    }
    return planned;
  };

  /** After a passed gate: observe again (the replaced container no longer holds its image), write down, prune. */
  const record = async (model: StackModel) => {
    await executor.performAll(planRecord(model, await observe(model, observeContext), await context(model)));
  };

  /** The new version failed after the stack was touched: restore the last good model, then report. */
  const recover = async (model: StackModel, before: Observed, failure: ComposeError): Promise<never> => {
    const what = `up ${model.project} to ${imageRefString(model.image)}`;
    const reason = failure.what.startsWith("wait ") ? `it did not turn healthy: ${failure.cause}` : `${failure.what}: ${failure.cause}`;
    const tail = await logs(model.project, model.service).catch(() => []);
    const details = tail.length > 0 ? [`last log lines of ${model.project}/${model.service} on ${model.image.tag}:`, ...tail] : [];
    const good = before.state.current;
    if (good === null || JSON.stringify(good) === JSON.stringify(model)) {
      if (good === null) await executor.performAll(planStopFailed(model, await context(model))).catch(() => undefined);
      throw new ComposeError({
        what,
        cause: `${reason}; ${good === null ? "no earlier version is recorded here to roll back to, so it was stopped" : "it already is the last good version recorded here, so there is nothing to roll back to"}`,
        next: "fix the image or the host (see the log lines below) and deploy again",
        details,
      });
    }
    const goodName = `${good.image.tag} (${good.image.digest.slice(0, 19)}…)`;
    log(`rolling back to ${imageRefString(good.image)}`);
    try {
      const { plan: back } = await planForUp(good);
      await executor.performAll([...back.pull, ...back.start]);
      await record(good).catch((error: Error) => log(`after the rollback, recording failed: ${error.message}`));
    } catch (error) {
      throw new ComposeError({
        what,
        cause: `${reason}; the rollback to ${goodName} failed too: ${(error as Error).message}`,
        next: "this host serves nothing healthy: investigate now (docker ps -a; the log lines below) or replace the instance",
        details,
      });
    }
    throw new ComposeError({ what, cause: `${reason}; rolled back to ${goodName}, which is healthy again`, next: "fix the new version (its last log lines follow) and deploy again", details });
  };

  const up = async (model: StackModel): Promise<UpResult> => {
    const { observed, plan: p } = options.dryRun ? await plan(model) : await planForUp(model);
    const actions = flattenPlan(p);
    if (options.dryRun) {
      if (observed.missingDirs.length > 0) log(`would refuse: host directories missing: ${observed.missingDirs.join(", ")}`);
      log(describePlan(actions).replace(/^/gm, "would "));
      const good = observed.state.current;
      if (p.start.length > 0) log(`on a failed health gate: roll back to ${good ? imageRefString(good.image) : "nothing (no good version recorded); stop the new one"}`);
      return { image: imageRefString(model.image), changed: p.start.length > 0, actions };
    }
    await executor.performAll(p.pull);
    try {
      await executor.performAll(p.start);
    } catch (error) {
      const failure = error instanceof ComposeError ? error : new ComposeError({ what: "start", cause: (error as Error).message, next: "re-run" });
      await recover(model, observed, failure);
    }
    await record(model);
    return { image: imageRefString(model.image), changed: p.start.length > 0, actions };
  };

  return {
    tools,
    plan,
    logs,
    async pull(model) {
      const { plan: p } = await plan(model);
      await executor.performAll(p.pull);
      return p.pull;
    },
    up: (model) => (options.dryRun ? up(model) : withLock(paths.stateDir, `up ${imageRefString(model.image)}`, () => up(model))),
    async status(project) {
      const services = await projectServices(observeContext, project);
      const state = parseState(await fs.readFile(paths.stateFile, "utf8").catch(() => null), paths.stateFile);
      return {
        project,
        compose: (await tools()).compose,
        composeFile: paths.composeFile,
        services,
        current: state.current ? imageRefString(state.current.image) : null,
        history: state.history,
      };
    },
    async down(project) {
      const down = async () => {
        const actions = planDown(project, await projectServices(observeContext, project), (await tools()).compose.argv);
        await executor.performAll(actions);
        return actions;
      };
      return options.dryRun ? down() : withLock(paths.stateDir, `down ${project}`, down);
    },
  };
}

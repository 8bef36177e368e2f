// Drives `docker compose` for one stack: observe, plan, perform; up is health-gated and rolls back to the last good version.
import { stripVTControlCharacters } from "node:util";
import { describePlan, type Action, type RetryPolicy } from "./actions.ts";
import { causeOf, ComposeError } from "./errors.ts";
import { createExecutor, runCommand, type Executor, type Probe } from "./executor.ts";
import { healthVerdict, type RestartBaseline } from "./health-gate.ts";
import { composeCandidates, findCompose, type ComposeCommand } from "./locate.ts";
import { defaultLockDir, withLock } from "./lock.ts";
import { healthDeadlineSeconds, imageLabel, imageRefString, type StackModel } from "./model.ts";
import { observe, observeFiles, projectServices, resolveProject, type ObserveContext } from "./observe.ts";
import {
  defaultPullRetry,
  flattenPlan,
  planDown,
  planStopFailed,
  planRecord,
  planUp,
  rollbackTarget,
  parseHealthProbeName,
  type Observed,
  type PlanContext,
  type RegistryAuth,
  type ServiceStatus,
  type UpPlan,
} from "./plan.ts";
import { refuseUp } from "./preflight.ts";
import { gatedContainer, planAbandonReplace, planReplace, staleReplace } from "./swap.ts";
import { statePaths, type DeployRecord, type StatePaths } from "./state.ts";

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
  /** Host-wide lock directory (default COMPOSE_LOCK_DIR or /run/lock/codedetect): one up/down at a time on the host. */
  lockDir?: string;
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
  /** An update written down before it started and not yet recorded (interrupted, failed, or its record could not be written). */
  pending: string | null;
  history: DeployRecord[];
}

export interface Runner {
  tools(): Promise<{ docker: string; compose: ComposeCommand }>;
  plan(model: StackModel): Promise<{ observed: Observed; plan: UpPlan }>;
  pull(model: StackModel): Promise<Action[]>;
  up(model: StackModel): Promise<UpResult>;
  /**
   * The running model in a new container, without a gap (the supervisor's restart, a rotated database secret): started
   * beside the old one, gated, then the old one hands over and stops; under the host lock. `since` (default now): a
   * re-run with the same value after a kill continues that replace instead of starting another container.
   */
  replace(model: StackModel, reason: string, since?: string): Promise<{ actions: Action[] }>;
  /** Without a project: the one the state directory records (refused when it records none). */
  status(project?: string): Promise<StackStatus>;
  down(project?: string): Promise<{ project: string; actions: Action[] }>;
  logs(project: string, service: string): Promise<string[]>;
}

export function createRunner(options: RunnerOptions): Runner {
  const docker = options.docker ?? "docker";
  const paths: StatePaths = statePaths(options.stateDir);
  const log = options.log ?? (() => {});
  const keep = options.keep ?? 3;
  const lockDir = options.lockDir ?? defaultLockDir();
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

  /** Per "project/service": the container that ran before the current `up`, so that its earlier restarts are not held against it. */
  const restartBaselines = new Map<string, RestartBaseline>();
  const probes = (name: string): Probe | undefined => {
    const target = parseHealthProbeName(name);
    if (!target) return undefined;
    return async () => {
      const services = await projectServices(observeContext, target.project);
      return healthVerdict(gatedContainer(services, target.service, target.image), target.image, restartBaselines.get(`${target.project}/${target.service}`) ?? null);
    };
  };
  const executor: Executor = createExecutor({ probe: probes, log, dryRun: options.dryRun });

  const logs = async (project: string, service: string): Promise<string[]> => {
    const { compose } = await tools();
    const outcome = await runCommand([...compose.argv, "--project-name", project, "logs", "--no-color", "--no-log-prefix", "--tail", String(options.logTail ?? 40), service], { timeoutMs: 30_000 });
    return stripVTControlCharacters(outcome.stdout + outcome.stderr)
      .split("\n")
      .filter((line) => line.trim());
  };

  /** The last log lines of the newest container on the model's image (the one the gate judged). */
  const failedLogs = async (model: StackModel): Promise<string[]> => {
    const container = gatedContainer(await projectServices(observeContext, model.project), model.service, imageRefString(model.image));
    if (!container) return [];
    const outcome = await runCommand([docker, "logs", "--tail", String(options.logTail ?? 40), container.id], { timeoutMs: 30_000 });
    return stripVTControlCharacters(outcome.stdout + outcome.stderr)
      .split("\n")
      .filter((line) => line.trim());
  };

  const plan = async (model: StackModel, healthDeadlineMs?: number) => {
    const observed = await observe(model, observeContext);
    const ctx = await context(model);
    return { observed, plan: planUp(model, observed, healthDeadlineMs === undefined ? ctx : { ...ctx, healthDeadlineMs }) };
  };

  /** After a passed gate: observe again (the replaced container no longer holds its image), write down, prune. A prune that fails is a warning: the deploy stands. */
  const record = async (model: StackModel, failedRepositories: string[] = []) => {
    for (const action of planRecord(model, await observe(model, observeContext), await context(model), failedRepositories)) {
      if (action.kind === "write") await executor.perform(action);
      else await executor.perform(action).catch((error: unknown) => log(`warning: ${causeOf(error)} (the image stays; the deploy stands)`));
    }
  };

  /** The new version failed after the stack was touched: restore the last good model, then report. */
  const recover = async (model: StackModel, before: Observed, failure: ComposeError): Promise<never> => {
    const what = `up ${model.project} to ${imageRefString(model.image)}`;
    const reason = failure.what.startsWith("wait ") ? `it did not turn healthy: ${failure.cause}` : `${failure.what}: ${failure.cause}`;
    // the failed container's own lines: beside it the old version runs in the same service, and `compose logs` would mix them in
    const tail = await failedLogs(model).catch(() => []);
    const details = tail.length > 0 ? [`last log lines of ${model.project}/${model.service} on ${imageLabel(model.image)}:`, ...tail] : [];
    const evidence = details.length > 0 ? " (its last log lines follow)" : ` (\`docker compose --project-name ${model.project} logs ${model.service}\` shows its log)`;
    const good = rollbackTarget(before.state, before.service);
    if (good === null || JSON.stringify(good) === JSON.stringify(model)) {
      if (good === null) await executor.performAll(planStopFailed(model, await context(model))).catch(() => undefined);
      throw new ComposeError({
        what,
        cause: `${reason}; ${good === null ? "no earlier version is recorded here to roll back to, so it was stopped" : "it already is the last good version recorded here, so there is nothing to roll back to"}`,
        next: `fix the image or the host${evidence} and deploy again`,
        details,
      });
    }
    const goodName = `${imageLabel(good.image)} (${good.image.digest.slice(0, 19)}…)`;
    log(`rolling back to ${imageRefString(good.image)}`);
    let keptServing = false;
    try {
      // The rollback waits as long as the good version's own health settings need, whatever --health-deadline said for the new one.
      const { plan: back } = await plan(good, healthDeadlineSeconds(good) * 1000);
      // the good version served beside the failed one all along when going back starts nothing
      keptServing = !back.start.some((action) => action.kind === "run" && action.argv.includes("up"));
      await executor.performAll([...back.pull, ...back.claim, ...back.start]);
    } catch (error) {
      throw new ComposeError({
        what,
        cause: `${reason}; the rollback to ${goodName} failed too: ${causeOf(error)}`,
        next: `this host serves nothing healthy: investigate now (docker ps -a${details.length > 0 ? "; the log lines below" : ""}) or replace the instance`,
        details,
      });
    }
    const recorded = await record(good, [model.image.repository]).then(
      () => "",
      (error: unknown) => ` (recording it failed: ${causeOf(error)}; re-run up with its stack to record it)`,
    );
    throw new ComposeError({ what, cause: `${reason}; ${keptServing ? `it was stopped alone: ${goodName} served throughout and still does` : `rolled back to ${goodName}, which is healthy again`}${recorded}`, next: `fix the new version${evidence} and deploy again`, details });
  };

  /** Validation first: the state directory's files, then the world, then the refusals the dry run shares. */
  const checkedPlan = async (model: StackModel) => {
    const planned = await plan(model);
    const refusal = refuseUp(model, planned.observed, paths);
    if (refusal) throw refusal;
    return planned;
  };

  const up = async (model: StackModel): Promise<UpResult> => {
    const { observed, plan: p } = await checkedPlan(model);
    const actions = flattenPlan(p);
    const changed = p.start.length > 0;
    if (options.dryRun) {
      log(describePlan(actions).replace(/^/gm, "would "));
      const good = rollbackTarget(observed.state, observed.service);
      if (changed) log(`on a failed health gate: roll back to ${good ? imageRefString(good.image) : "nothing (no good version recorded); stop the new one"}`);
      return { image: imageRefString(model.image), changed, actions };
    }
    if (observed.service) restartBaselines.set(`${model.project}/${model.service}`, { id: observed.service.id, restartCount: observed.service.restartCount });
    await executor.performAll(p.pull);
    await executor.performAll(p.claim).catch((error: unknown) => {
      throw new ComposeError({ what: `up ${imageRefString(model.image)}: cannot write down the update before starting it`, cause: causeOf(error), next: `make ${paths.stateDir} writable (space, permissions), then re-run; the running stack was not changed` });
    });
    try {
      await executor.performAll(p.start);
    } catch (error) {
      const failure = error instanceof ComposeError ? error : new ComposeError({ what: "start", cause: (error as Error).message, next: "re-run" });
      await recover(model, observed, failure);
    }
    try {
      await record(model);
    } catch (error) {
      throw new ComposeError({
        what: `up ${model.project} to ${imageRefString(model.image)}: it passed its health gate and serves, but recording it failed`,
        cause: causeOf(error),
        next: `fix ${paths.stateDir} (space, permissions), then re-run up with the same stack: it restarts nothing and records it; until then ${paths.stateFile} names it as pending, and a rollback goes to it while it runs healthy`,
      });
    }
    return { image: imageRefString(model.image), changed, actions };
  };

  const replace = async (model: StackModel, reason: string, since: string) => {
    const observed = await observe(model, observeContext);
    const refusal = refuseUp(model, observed, paths);
    if (refusal) throw refusal;
    const stale = staleReplace(model, observed, reason);
    if (stale) throw stale;
    const ctx = await context(model);
    const actions = planReplace(model, observed, ctx, since, reason);
    if (options.dryRun) {
      log(describePlan(actions).replace(/^/gm, "would "));
      if (actions.length > 0) log("on a failed health gate: stop the new container alone when an older one still serves");
      return { actions };
    }
    restartBaselines.delete(`${model.project}/${model.service}`);
    try {
      await executor.performAll(actions);
    } catch (error) {
      const failure = error instanceof ComposeError ? error : new ComposeError({ what: "replace", cause: (error as Error).message, next: "re-run" });
      const abandon = planAbandonReplace(model, await observe(model, observeContext), ctx, since);
      const tail = await failedLogs(model).catch(() => []);
      await executor.performAll(abandon).catch((stopError: unknown) => log(`warning: stopping the failed replacement failed: ${causeOf(stopError)}`));
      throw new ComposeError({
        what: `replace ${model.project}/${model.service} on ${imageLabel(model.image)} (${reason})`,
        cause: `${failure.what.startsWith("wait ") ? `it did not turn healthy: ${failure.cause}` : `${failure.what}: ${failure.cause}`}; ${abandon.length > 0 ? "it was stopped alone: the older container served throughout and still does" : "no older container runs: it is left to Docker's restart policy"}`,
        next: `look at its log lines${tail.length > 0 ? " below" : ""} and the host`,
        details: tail,
      });
    }
    return { actions };
  };

  return {
    tools,
    plan,
    logs,
    replace: (model, reason, since) => {
      const at = since ?? options.now?.() ?? new Date().toISOString();
      // said once the lock is held: the agent asks again every few seconds while another deploy holds it (bootstrap/executor.ts inTurn)
      const announced = () => {
        log(`replace ${model.project}/${model.service} asked for at ${at} (${reason}); after an interruption, \`replace --since ${at}\` continues it`);
        return replace(model, reason, at);
      };
      return options.dryRun ? announced() : withLock(lockDir, `replace ${model.project}/${model.service} (${reason})`, announced);
    },
    async pull(model) {
      const { plan: p } = await plan(model);
      await executor.performAll(p.pull);
      return p.pull;
    },
    up: (model) => (options.dryRun ? up(model) : withLock(lockDir, `up ${imageRefString(model.image)}`, () => up(model))),
    async status(given) {
      const project = await resolveProject(paths, given);
      const state = (await observeFiles(paths)).state;
      return {
        project,
        compose: (await tools()).compose,
        composeFile: paths.composeFile,
        services: await projectServices(observeContext, project),
        current: state?.current ? imageRefString(state.current.image) : null,
        pending: state?.pending ? imageRefString(state.pending.image) : null,
        history: state?.history ?? [],
      };
    },
    async down(given) {
      const project = await resolveProject(paths, given);
      const down = async () => {
        const actions = planDown(project, await projectServices(observeContext, project), (await tools()).compose.argv);
        await executor.performAll(actions);
        return { project, actions };
      };
      return options.dryRun ? down() : withLock(lockDir, `down ${project}`, down);
    },
  };
}

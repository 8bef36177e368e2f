// Pure planning: from a model and what was observed, the Actions that bring the host to the model (and nothing more).
import type { Action, RetryPolicy } from "./actions.ts";
import { imageLabel, imageRefString, type StackModel } from "./model.ts";
import { nextHistory, planPrune } from "./retention.ts";
import { isRunningModel, planStart } from "./swap.ts";
import { emptyState, serializeState, type DeployState, type StatePaths } from "./state.ts";

export { isRunningModel, nextHistory, planPrune, planStart };

export interface ServiceStatus {
  service: string;
  container: string;
  id: string;
  /** Docker's container state: running, restarting, exited, created, paused, dead. */
  state: string;
  /** healthy, unhealthy, starting, or none (no health check). */
  health: string;
  /** The image as configured ("repository:tag@sha256:…"). */
  image: string;
  imageId: string;
  /** What the local image is known as in registries: "repository@sha256:…". */
  repoDigests: string[];
  exitCode: number;
  restartCount: number;
  startedAt: string;
  /** When the container was created: the newest of a service's containers is the latest version started. */
  createdAt: string;
  /** The io.codedetect.fingerprint label: which model (app) or port layout (port holder) it was created from; null on containers from before it. */
  fingerprint: string | null;
  lastHealthOutput: string | null;
}

export interface LocalImage {
  repository: string;
  digest: string;
  id: string;
}

export interface Observed {
  /** compose.yaml as it is on disk, or null. */
  composeFile: string | null;
  /** state.json as validated, or null when there is none. */
  state: DeployState | null;
  /** The service's primary container: the newest one running healthy, else the newest one (see compose/swap.ts). */
  service: ServiceStatus | null;
  /** Every container of the project: during an in-place update a service has two, and the port holder is one more. */
  containers: ServiceStatus[];
  /** The model's image (by digest) is in the local image store. */
  imagePresent: boolean;
  /** The rollback target's image when it is not in the local image store (a rollback would depend on the registry), else null. */
  missingRollbackImage: string | null;
  /** Host directories the stack binds that do not exist. */
  missingDirs: string[];
  /** DOCKER_CONFIG/config.json as on disk, or null. */
  dockerConfig: string | null;
  /** Local images that carry a registry digest (every repository: prune picks the ones this stack used). */
  localImages: LocalImage[];
  /** Image IDs used by any container, running or not. */
  imagesInUse: string[];
}

export interface RegistryAuth {
  /** Registry host as Docker names it, e.g. "123.dkr.ecr.eu-west-1.amazonaws.com" or "127.0.0.1:5000". */
  registry: string;
  username: string;
  password: string;
}

export interface PlanContext {
  tools: { docker: string; compose: string[] };
  paths: StatePaths;
  pullRetry: RetryPolicy;
  pullTimeoutMs: number;
  auth: RegistryAuth | null;
  healthDeadlineMs: number;
  /** How many versions that passed their health gate are kept locally for rollback. */
  keep: number;
  /** ISO time stamped on the deploy record. */
  now: string;
}

export interface UpPlan {
  /** Fetch the image: failure here changes nothing on the host. */
  pull: Action[];
  /** Claim the state directory and write the update down as pending: failure here changes nothing either. */
  claim: Action[];
  /** Switch the stack to the model and gate on health: failure here triggers a rollback. */
  start: Action[];
  /** Write down the new good version and prune images beyond the kept ones. */
  record: Action[];
}

/** Patterns in `docker pull` errors that retrying cannot fix. */
export const PERMANENT_PULL_ERRORS = ["manifest unknown", "not found", "unauthorized", "no basic auth credentials", "denied", "invalid reference format"];

export function defaultPullRetry(): RetryPolicy {
  return { attempts: 6, minDelayMs: 1000, maxDelayMs: 30_000, deadlineMs: 300_000, permanent: PERMANENT_PULL_ERRORS };
}

export function composeArgv(ctx: PlanContext, project: string, ...args: string[]): string[] {
  return [...ctx.tools.compose, "--project-name", project, "--file", ctx.paths.composeFile, ...args];
}

/** The wait probe's name carries everything it checks: project, service, and the image the healthy container must run. */
export function healthProbeName(model: StackModel): string {
  return `healthy:${model.project}/${model.service}=${imageRefString(model.image)}`;
}

export function parseHealthProbeName(name: string): { project: string; service: string; image: string } | null {
  const match = /^healthy:([^/]+)\/([^=]+)=(.+)$/.exec(name);
  return match ? { project: match[1] ?? "", service: match[2] ?? "", image: match[3] ?? "" } : null;
}

export function dockerConfigContent(auth: RegistryAuth): string {
  const token = Buffer.from(`${auth.username}:${auth.password}`).toString("base64");
  return `${JSON.stringify({ auths: { [auth.registry]: { auth: token } } }, null, 2)}\n`;
}

/**
 * New credentials are tried from a candidate DOCKER_CONFIG and promoted to the kept one only after the pull succeeded:
 * a failed pull (a wrong password) leaves the credentials that worked in place.
 */
export function planPull(model: StackModel, seen: Observed, ctx: PlanContext): Action[] {
  if (seen.imagePresent) return [];
  const ref = imageRefString(model.image);
  const actions: Action[] = [];
  let env: Record<string, string> | undefined;
  let promote: Action | undefined;
  if (ctx.auth) {
    const content = dockerConfigContent(ctx.auth);
    if (seen.dockerConfig === content) {
      env = { DOCKER_CONFIG: ctx.paths.dockerConfigDir };
    } else {
      actions.push({ kind: "write", path: `${ctx.paths.candidateConfigDir}/config.json`, content, mode: 0o600, sensitive: true });
      env = { DOCKER_CONFIG: ctx.paths.candidateConfigDir };
      promote = { kind: "write", path: `${ctx.paths.dockerConfigDir}/config.json`, content, mode: 0o600, sensitive: true };
    }
  }
  actions.push({
    kind: "run",
    argv: [ctx.tools.docker, "pull", "--quiet", ref],
    ...(env ? { env } : {}),
    timeoutMs: ctx.pullTimeoutMs,
    retry: {
      ...ctx.pullRetry,
      permanentNext: `check that ${ref} was pushed (repository, tag and digest)${ctx.auth ? " and that the credentials may pull it" : " and whether the registry needs credentials"}; the running stack was not changed`,
    },
    purpose: `pull ${ref}`,
    next: `check that ${model.image.repository.split("/")[0]} is reachable from this host${ctx.auth ? " and the credentials are current" : ""}, then re-run up; the running stack was not changed`,
  });
  return promote ? [...actions, promote] : actions;
}

/** After the gate: the model becomes the rollback target, the update in flight is settled, history keeps the last `keep` distinct versions. */
export function planRecord(model: StackModel, seen: Observed, ctx: PlanContext, failedRepositories: string[] = []): Action[] {
  const seenState = seen.state ?? emptyState(model.project);
  const before: DeployState = { project: seenState.project, current: seenState.current, pending: seenState.pending, history: seenState.history };
  const next: DeployState = { project: model.project, current: model, pending: null, history: nextHistory(model, before.history, ctx.now, ctx.keep) };
  const unchanged = seen.state !== null && serializeState(next) === serializeState(before);
  const write: Action[] = unchanged ? [] : [{ kind: "write", path: ctx.paths.stateFile, content: serializeState(next), mode: 0o644 }];
  return [...write, ...planPrune(model, next.history, seen, ctx, failedRepositories)];
}

/**
 * Before the stack is touched: the directory is claimed for the project and the update is written down as pending.
 * If state.json cannot be written, the run stops here, with nothing changed.
 */
export function planClaim(model: StackModel, seen: Observed, ctx: PlanContext): Action[] {
  const before = seen.state ?? emptyState(model.project);
  const claimed: DeployState = { project: before.project, current: before.current, pending: model, history: before.history };
  return [{ kind: "write", path: ctx.paths.stateFile, content: serializeState(claimed), mode: 0o644 }];
}

/**
 * What a failed update goes back to: the recorded model, or the pending one when that is what runs healthy (its gate
 * passed but the record could not be written).
 */
export function rollbackTarget(state: DeployState | null, service: ServiceStatus | null): StackModel | null {
  if (!state) return null;
  const pending = state.pending;
  if (pending && service && service.image === imageRefString(pending.image) && service.state === "running" && service.health === "healthy") return pending;
  return state.current;
}

export function planUp(model: StackModel, seen: Observed, ctx: PlanContext): UpPlan {
  const start = planStart(model, seen, ctx);
  return { pull: planPull(model, seen, ctx), claim: start.length > 0 ? planClaim(model, seen, ctx) : [], start, record: planRecord(model, seen, ctx) };
}

export function planDown(project: string, containers: ServiceStatus[], compose: string[]): Action[] {
  if (containers.length === 0) return [];
  return [
    {
      kind: "run",
      argv: [...compose, "--project-name", project, "down", "--remove-orphans"],
      timeoutMs: 300_000,
      purpose: `stop and remove ${project}`,
    },
  ];
}

/** When a new version fails and nothing earlier is known: stop it, so that an unhealthy server does not take traffic. */
export function planStopFailed(model: StackModel, ctx: PlanContext): Action[] {
  return [{ kind: "run", argv: composeArgv(ctx, model.project, "stop", model.service), timeoutMs: (model.stopGraceSeconds + 30) * 1000, purpose: `stop the failed ${imageLabel(model.image)}` }];
}

export function flattenPlan(plan: UpPlan): Action[] {
  return [...plan.pull, ...plan.claim, ...plan.start, ...plan.record];
}

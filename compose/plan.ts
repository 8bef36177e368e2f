// Pure planning: from a model and what was observed, the Actions that bring the host to the model (and nothing more).
import type { Action, RetryPolicy } from "./actions.ts";
import { imageRefString, type StackModel } from "./model.ts";
import { renderCompose } from "./render.ts";
import { serializeState, type DeployState, type StatePaths } from "./state.ts";

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
  state: DeployState;
  service: ServiceStatus | null;
  /** The model's image (by digest) is in the local image store. */
  imagePresent: boolean;
  /** Host directories the stack binds that do not exist. */
  missingDirs: string[];
  /** DOCKER_CONFIG/config.json as on disk, or null. */
  dockerConfig: string | null;
  /** Local images of the model's repository that carry a registry digest. */
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

export function planPull(model: StackModel, seen: Observed, ctx: PlanContext): Action[] {
  if (seen.imagePresent) return [];
  const ref = imageRefString(model.image);
  const actions: Action[] = [];
  let env: Record<string, string> | undefined;
  if (ctx.auth) {
    const content = dockerConfigContent(ctx.auth);
    if (seen.dockerConfig !== content) actions.push({ kind: "write", path: `${ctx.paths.dockerConfigDir}/config.json`, content, mode: 0o600, sensitive: true });
    env = { DOCKER_CONFIG: ctx.paths.dockerConfigDir };
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
  return actions;
}

function sameModel(a: StackModel | null, b: StackModel): boolean {
  return a !== null && JSON.stringify(a) === JSON.stringify(b);
}

export function isRunningModel(model: StackModel, seen: Observed): boolean {
  const service = seen.service;
  return (
    seen.composeFile === renderCompose(model) &&
    service !== null &&
    service.state === "running" &&
    service.health === "healthy" &&
    service.image === imageRefString(model.image)
  );
}

export function planStart(model: StackModel, seen: Observed, ctx: PlanContext): Action[] {
  if (isRunningModel(model, seen)) return [];
  const rendered = renderCompose(model);
  const actions: Action[] = [];
  if (seen.composeFile !== rendered) actions.push({ kind: "write", path: ctx.paths.composeFile, content: rendered, mode: 0o644 });
  actions.push(
    {
      kind: "run",
      argv: composeArgv(ctx, model.project, "up", "--detach", "--pull", "never", "--remove-orphans"),
      timeoutMs: (model.stopGraceSeconds + 120) * 1000,
      purpose: `start ${model.project}/${model.service} on ${model.image.tag}`,
      next: `look at \`${composeArgv(ctx, model.project, "logs", model.service).join(" ")}\``,
    },
    {
      kind: "wait",
      until: healthProbeName(model),
      deadlineMs: ctx.healthDeadlineMs,
      next: "the container's last log lines follow",
    },
  );
  return actions;
}

/** Images of the repository to remove: all but the kept versions and anything a container uses. */
export function planPrune(model: StackModel, history: DeployState["history"], seen: Observed, ctx: PlanContext): Action[] {
  const keep = new Set([model.image.digest, ...history.slice(0, ctx.keep).map((record) => record.image.slice(record.image.indexOf("@") + 1))]);
  const inUse = new Set(seen.imagesInUse);
  const remove = seen.localImages.filter((image) => image.repository === model.image.repository && !keep.has(image.digest) && !inUse.has(image.id));
  return [...new Map(remove.map((image) => [image.digest, image])).values()]
    .sort((a, b) => (a.digest < b.digest ? -1 : 1))
    .map((image) => ({
      kind: "run",
      argv: [ctx.tools.docker, "image", "rm", `${image.repository}@${image.digest}`],
      purpose: `prune ${image.repository}@${image.digest.slice(0, 19)}… (not among the last ${ctx.keep} versions)`,
    }));
}

/** After the gate: the model becomes the rollback target, and history keeps the last `keep` versions. */
export function planRecord(model: StackModel, seen: Observed, ctx: PlanContext): Action[] {
  const ref = imageRefString(model.image);
  const history = seen.state.history[0]?.image === ref ? seen.state.history : [{ image: ref, deployedAt: ctx.now }, ...seen.state.history.filter((record) => record.image !== ref)];
  const next: DeployState = { current: model, history: history.slice(0, ctx.keep) };
  const unchanged = sameModel(seen.state.current, model) && JSON.stringify(next.history) === JSON.stringify(seen.state.history);
  const write: Action[] = unchanged ? [] : [{ kind: "write", path: ctx.paths.stateFile, content: serializeState(next), mode: 0o644 }];
  return [...write, ...planPrune(model, next.history, seen, ctx)];
}

export function planUp(model: StackModel, seen: Observed, ctx: PlanContext): UpPlan {
  return { pull: planPull(model, seen, ctx), start: planStart(model, seen, ctx), record: planRecord(model, seen, ctx) };
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
  return [{ kind: "run", argv: composeArgv(ctx, model.project, "stop", model.service), timeoutMs: (model.stopGraceSeconds + 30) * 1000, purpose: `stop the failed ${model.image.tag}` }];
}

export function flattenPlan(plan: UpPlan): Action[] {
  return [...plan.pull, ...plan.start, ...plan.record];
}

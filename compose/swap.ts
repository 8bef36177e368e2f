// In-place update as data: the new version starts beside the old one in the port holder's network namespace, is gated on its health, and only then the old one drains and stops. Pure.
import type { Action } from "./actions.ts";
import { ComposeError } from "./errors.ts";
import { imageLabel, imageRefString, type StackModel } from "./model.ts";
import { composeArgv, healthProbeName, type Observed, type PlanContext, type ServiceStatus } from "./plan.ts";
import { appFingerprint, portHolderFingerprint, portHolderService, renderCompose } from "./render.ts";

const byNewest = (a: ServiceStatus, b: ServiceStatus) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0);

/** A service's containers, newest first. */
export function containersOf(containers: ServiceStatus[], service: string): ServiceStatus[] {
  return containers.filter((c) => c.service === service).sort(byNewest);
}

/** The container that stands for the service: the newest one running healthy, else the newest one. */
export function primaryContainer(containers: ServiceStatus[], service: string): ServiceStatus | null {
  const mine = containersOf(containers, service);
  return mine.find((c) => c.state === "running" && c.health === "healthy") ?? mine[0] ?? null;
}

/** The container a health gate judges: the newest one on the gated image (an older version beside it does not count), else the service's primary one. */
export function gatedContainer(containers: ServiceStatus[], service: string, image: string): ServiceStatus | null {
  return containersOf(containers, service).find((c) => c.image === image) ?? primaryContainer(containers, service);
}

export function portHolderOf(seen: Observed, model: StackModel): ServiceStatus | null {
  return containersOf(seen.containers, portHolderService(model))[0] ?? null;
}

/** The port holder runs and publishes the model's port: a new version can join it. */
export function holderFits(model: StackModel, holder: ServiceStatus | null): boolean {
  return holder !== null && holder.state === "running" && holder.fingerprint === portHolderFingerprint(model);
}

/** The container was created from this model (its fingerprint covers everything Compose got for it). */
export function runsModel(model: StackModel, container: ServiceStatus): boolean {
  return container.fingerprint === appFingerprint(model) && container.image === imageRefString(model.image);
}

/** Nothing to do: compose.yaml is the model's, its port holder runs, and exactly one container serves, this model's, healthy. */
export function isRunningModel(model: StackModel, seen: Observed): boolean {
  const apps = containersOf(seen.containers, model.service);
  const only = apps[0];
  return (
    seen.composeFile === renderCompose(model) &&
    holderFits(model, portHolderOf(seen, model)) &&
    apps.length === 1 &&
    only !== undefined &&
    runsModel(model, only) &&
    only.state === "running" &&
    only.health === "healthy"
  );
}

const names = (containers: ServiceStatus[]) => containers.map((c) => c.container).join(", ");
const ids = (containers: ServiceStatus[]) => containers.map((c) => c.id.slice(0, 12));

/** Docker's answers when a container is already where a retirement takes it. */
const GONE = ["is not running", "No such container"];

/**
 * The old version's way out, once the new one serves beside it: SIGUSR2, the server's handover (server/lifecycle.ts):
 * for 1.5 s each response closes its connection, so keep-alive clients reconnect (to the listener that stays), health
 * stays 200; then the listener closes (the connections waiting in its queue move to the new listener), in-flight
 * requests finish, it exits 0. `docker stop` then waits for that exit within the container's stop grace; then it is
 * removed. Not SIGTERM's drain: its health 503 for DRAIN_SECONDS is for a load balancer to stop routing to an instance
 * that goes away, while here the port stays open and a health check answered by the old one would only report the
 * instance unhealthy (compose/README.md). With `drainPeriod` (the port closes: the old way, below) it is SIGTERM's full
 * drain, as before.
 */
function retire(containers: ServiceStatus[], model: StackModel, seen: Observed, ctx: PlanContext, why: string, drainPeriod = false): Action[] {
  if (containers.length === 0) return [];
  const grace = Math.max(model.stopGraceSeconds, seen.state?.current?.stopGraceSeconds ?? 0, seen.state?.pending?.stopGraceSeconds ?? 0);
  const running = containers.filter((c) => c.state === "running");
  return [
    ...(running.length > 0 && !drainPeriod
      ? [{ kind: "run", argv: [ctx.tools.docker, "kill", "--signal", "SIGUSR2", ...ids(running)], timeoutMs: 60_000, purpose: `hand the port over: ${names(running)} closes its connections and listener (${why})`, alreadyDone: GONE } satisfies Action]
      : []),
    { kind: "run", argv: [ctx.tools.docker, "stop", ...ids(containers)], timeoutMs: (grace + 30) * 1000, purpose: `wait for ${names(containers)} to finish its requests and stop`, alreadyDone: GONE },
    { kind: "run", argv: [ctx.tools.docker, "rm", ...ids(containers)], timeoutMs: 60_000, purpose: `remove ${names(containers)}`, alreadyDone: GONE },
  ];
}

/**
 * The swap an update and a replace share, with a fitting port holder: containers that no longer run are removed, `kept`
 * (the model's container already running, if any) or else a new one started beside the ones that serve (`--scale` one
 * more, `--no-recreate`: they and the holder are left as they are), the gate, then the others hand over and stop.
 */
function swapBeside(model: StackModel, seen: Observed, ctx: PlanContext, kept: ServiceStatus | undefined, started: string, why: string): Action[] {
  const others = containersOf(seen.containers, model.service).filter((c) => c !== kept);
  const stopped = others.filter((c) => c.state !== "running");
  const serving = others.filter((c) => c.state === "running");
  return [
    ...(stopped.length > 0 ? [{ kind: "run", argv: [ctx.tools.docker, "rm", "--force", ...ids(stopped)], timeoutMs: 60_000, purpose: `remove ${names(stopped)} (not running: serves nothing)`, alreadyDone: GONE } satisfies Action] : []),
    ...(kept
      ? []
      : [
          {
            kind: "run",
            argv: composeArgv(ctx, model.project, "up", "--detach", "--pull", "never", "--no-recreate", "--remove-orphans", "--scale", `${model.service}=${serving.length + 1}`, model.service),
            timeoutMs: (model.stopGraceSeconds + 120) * 1000,
            purpose: `start ${started} beside ${serving.length === 0 ? "nothing (no version serves)" : names(serving)}`,
            next: `look at \`${composeArgv(ctx, model.project, "logs", model.service).join(" ")}\``,
          } satisfies Action,
        ]),
    ...(kept?.health === "healthy" ? [] : [{ kind: "wait", until: healthProbeName(model), deadlineMs: ctx.healthDeadlineMs } satisfies Action]),
    ...retire(serving, model, seen, ctx, why),
  ];
}

/** compose.yaml as the model renders it, when it is not that already. */
function writeCompose(model: StackModel, seen: Observed, ctx: PlanContext): Action[] {
  const rendered = renderCompose(model);
  return seen.composeFile === rendered ? [] : [{ kind: "write", path: ctx.paths.composeFile, content: rendered, mode: 0o644 }];
}

/**
 * The Actions that bring the service to the model. With a fitting port holder, the in-place update: containers that no
 * longer run are removed, the model's container is started beside the ones that serve (`--scale` one more,
 * `--no-recreate`: the old one and the holder are left as they are), gated on its health, then the old ones drain and
 * stop. Each step is planned from what runs, so a re-run after a kill at any point continues where it stopped. Without
 * one (the first start, a changed port, the layout before the holder), the old way: stop what runs, then start.
 */
export function planStart(model: StackModel, seen: Observed, ctx: PlanContext): Action[] {
  if (isRunningModel(model, seen)) return [];
  const write = writeCompose(model, seen, ctx);
  const apps = containersOf(seen.containers, model.service);
  const gate: Action = { kind: "wait", until: healthProbeName(model), deadlineMs: ctx.healthDeadlineMs };
  const timeoutMs = (model.stopGraceSeconds + 120) * 1000;
  const next = `look at \`${composeArgv(ctx, model.project, "logs", model.service).join(" ")}\``;
  if (!holderFits(model, portHolderOf(seen, model))) {
    return [
      ...write,
      ...retire(apps, model, seen, ctx, "the port holder is missing or publishes another port: the port is re-opened", true),
      { kind: "run", argv: composeArgv(ctx, model.project, "up", "--detach", "--pull", "never", "--remove-orphans"), timeoutMs, purpose: `start ${model.project}/${model.service} on ${imageLabel(model.image)} with its port holder`, next },
      gate,
    ];
  }
  const fit = apps.find((c) => runsModel(model, c) && c.state === "running");
  return [...write, ...swapBeside(model, seen, ctx, fit, imageLabel(model.image), `${imageLabel(model.image)} is healthy and serves`)];
}

/** Created at or after `since`: the container a replace requested at `since` started (Docker's Created carries nanoseconds: compared as times, not text). */
export function createdSince(container: ServiceStatus, since: string): boolean {
  return Date.parse(container.createdAt) >= Date.parse(since);
}

/**
 * The same model in a new container (the supervisor's restart, a rotated secret that the env_file now holds): like an
 * update, a new container starts beside the running one (`--scale` one more: Compose creates it from compose.yaml and
 * the env_file as they are now), is gated on its health, then the older ones hand over and stop. `since` is when the
 * replace was asked for: a container of the model created since then is the replacement, so a re-run with the same
 * `since` after a kill starts no second one and continues with what is left. Without a fitting port holder there is
 * nothing to start beside: the update's old way (stop, then start). A dead or exited old container is only removed.
 */
export function planReplace(model: StackModel, seen: Observed, ctx: PlanContext, since: string, reason: string): Action[] {
  if (!holderFits(model, portHolderOf(seen, model))) return planStart(model, seen, ctx);
  const replacement = containersOf(seen.containers, model.service).find((c) => createdSince(c, since) && runsModel(model, c) && c.state === "running");
  return [...writeCompose(model, seen, ctx), ...swapBeside(model, seen, ctx, replacement, `a new ${imageLabel(model.image)} container (${reason})`, `its replacement is healthy and serves (${reason})`)];
}

/**
 * A replace of a model the state directory no longer records: a deploy of another version finished while the replace
 * waited for the host lock (supervise decided to restart, then waited for a `bootstrap --image NEW` to finish). Carried
 * out, it would start the replaced version again beside the new one and retire the new one: the old version serving,
 * the new one recorded. Refused instead; the caller asks again with what is recorded (supervise re-reads it every poll).
 */
export function staleReplace(model: StackModel, seen: Observed, reason: string): ComposeError | null {
  const recorded = seen.state?.current;
  if (!recorded || JSON.stringify(recorded) === JSON.stringify(model)) return null;
  return new ComposeError({
    what: `replace ${model.project}/${model.service} on ${imageLabel(model.image)} (${reason})`,
    cause: `the state directory records ${imageLabel(recorded.image)} (${recorded.image.digest.slice(0, 19)}…) now, not this version: a deploy finished since the replace was asked for, and replacing would bring back the version it replaced`,
    next: "nothing to undo; if the recorded version is unhealthy, replace it (supervise does so at its next polls)",
  });
}

/** A replacement that failed its gate while an older container still serves: the replacement goes alone. When nothing older runs, it is left to Docker's restart policy: stopping it would serve nothing either. */
export function planAbandonReplace(model: StackModel, seen: Observed, ctx: PlanContext, since: string): Action[] {
  const apps = containersOf(seen.containers, model.service);
  const mine = apps.filter((c) => createdSince(c, since));
  const olderServing = apps.some((c) => !createdSince(c, since) && c.state === "running");
  return olderServing ? retire(mine, model, seen, ctx, "it failed its health gate; the older one serves on") : [];
}

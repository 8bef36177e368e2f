// The in-place update as data, without a machine: the new version starts beside the old one, the gate comes before the old one is retired, and a re-run after a kill at any point plans only what is left.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Action } from "../../compose/actions.ts";
import { defineStack, imageRefString, type StackModel } from "../../compose/model.ts";
import type { Observed, ServiceStatus } from "../../compose/plan.ts";
import { renderCompose } from "../../compose/render.ts";
import { gatedContainer, isRunningModel, planAbandonReplace, planReplace, planStart, primaryContainer, staleReplace } from "../../compose/swap.ts";
import { appContainer, DIGEST_1, DIGEST_2, nothingObserved, planContext, portHolderContainer, REPO } from "./fixtures.ts";

const v1 = defineStack({ image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs" });
const v2 = defineStack({ image: `${REPO}:v2@${DIGEST_2}`, efsRoot: "/mnt/efs" });
const ctx = planContext();
const old = appContainer(v1, { id: "0ld0ld0ld0ld0ld", container: "codedetect-app-1", createdAt: "2026-01-01T00:00:00Z" });
const fresh = (overrides: Partial<ServiceStatus> = {}) => appContainer(v2, { id: "n3wn3wn3wn3wn3w", container: "codedetect-app-2", createdAt: "2026-01-02T00:00:00Z", ...overrides });

function seen(model: StackModel, containers: ServiceStatus[], holder: ServiceStatus | null = portHolderContainer(v1)): Observed {
  const all = holder ? [...containers, holder] : containers;
  return nothingObserved({ composeFile: renderCompose(model), imagePresent: true, containers: all, service: primaryContainer(all, model.service), state: { project: "codedetect", current: v1, pending: null, history: [] } });
}

/** The new version started beside the ones that serve, as a step line. */
const START_BESIDE = "up --detach --pull never --no-recreate --remove-orphans --scale app=2 app";
/** A serving container's retirement after the gate, as step lines: the handover (SIGUSR2), the stop, the removal. */
const retire = (id: string) => [`kill --signal SIGUSR2 ${id}`, `stop ${id}`, `rm ${id}`];

/** Each action as one short line: the docker verb and its first arguments (compose commands from their subcommand on). */
const steps = (actions: Action[]) =>
  actions.map((a) => (a.kind === "run" ? (a.argv[1] === "compose" ? a.argv.slice(6).join(" ") : a.argv.slice(1).join(" ")) : a.kind === "wait" ? `wait ${a.until.split("=")[1]?.split("@")[0]}` : `write ${a.path}`));

describe("the in-place update plan", () => {
  it("starts the new version beside the old one (the old one and the port holder untouched), gates it, and only then retires the old one", () => {
    assert.deepEqual(steps(planStart(v2, nothingObserved({ ...seen(v1, [old]), composeFile: renderCompose(v1) }), ctx)), [
      "write /var/lib/codedetect/compose.yaml",
      START_BESIDE,
      `wait ${REPO}:v2`,
      ...retire("0ld0ld0ld0ld"),
    ]);
  });

  it("after a kill while the new version was starting: no second start, the gate, then the old one goes", () => {
    assert.deepEqual(steps(planStart(v2, seen(v2, [old, fresh({ health: "starting" })]), ctx)), [`wait ${REPO}:v2`, ...retire("0ld0ld0ld0ld")]);
  });

  it("after a kill once the new version was healthy, or while the old one was stopping: only what is left of the retirement", () => {
    assert.deepEqual(steps(planStart(v2, seen(v2, [old, fresh()]), ctx)), retire("0ld0ld0ld0ld"));
    assert.deepEqual(steps(planStart(v2, seen(v2, [{ ...old, state: "exited" }, fresh()]), ctx)), ["rm --force 0ld0ld0ld0ld"]);
    assert.deepEqual(planStart(v2, seen(v2, [fresh()]), ctx), []);
  });

  it("a version that failed beside the old one is the one retired when the old model is asked for (the rollback); the old one is not restarted", () => {
    assert.deepEqual(steps(planStart(v1, seen(v2, [old, fresh({ health: "unhealthy" })]), ctx)), [
      "write /var/lib/codedetect/compose.yaml",
      ...retire("n3wn3wn3wn3w"),
    ]);
  });

  it("a re-run of the failed version removes its stopped container and starts a fresh one beside the one that serves", () => {
    assert.deepEqual(steps(planStart(v2, seen(v2, [old, fresh({ state: "exited", health: "unhealthy" })]), ctx)), [
      "rm --force n3wn3wn3wn3w",
      START_BESIDE,
      `wait ${REPO}:v2`,
      ...retire("0ld0ld0ld0ld"),
    ]);
  });

  it("without a port holder (the layout before it) or with one on another port: the old one drains fully (SIGTERM), then the stack starts with its holder", () => {
    const expected = ["stop 0ld0ld0ld0ld", "rm 0ld0ld0ld0ld", "up --detach --pull never --remove-orphans", `wait ${REPO}:v2`];
    assert.deepEqual(steps(planStart(v2, seen(v2, [old], null), ctx)), expected);
    const otherPort = defineStack({ image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs", hostPort: 8080 });
    assert.deepEqual(steps(planStart(v2, seen(v2, [old], portHolderContainer(otherPort)), ctx)), expected);
  });

  it("two containers serving is never 'nothing to do', even when one of them is the model's", () => {
    assert.equal(isRunningModel(v2, seen(v2, [fresh()])), true);
    assert.equal(isRunningModel(v2, seen(v2, [old, fresh()])), false);
  });

  it("the gate judges the newest container on the gated image, never the old version beside it", () => {
    const containers = [old, fresh({ health: "starting" })];
    assert.equal(gatedContainer(containers, "app", imageRefString(v2.image))?.id, "n3wn3wn3wn3wn3w");
    assert.equal(primaryContainer(containers, "app")?.id, old.id, "the primary container is the one that serves healthy");
  });
});

describe("the replace plan (supervise's restart, a rotated database secret): the same model in a new container, without a gap", () => {
  // the replace was asked for at `since`: the old one was created before, its replacement after
  const since = "2026-01-01T12:00:00.000Z";
  const current = appContainer(v2, { id: "0ld0ld0ld0ld0ld", container: "codedetect-app-1", createdAt: "2026-01-01T00:00:00.123456789Z" });
  const replacement = (overrides: Partial<ServiceStatus> = {}) => appContainer(v2, { id: "n3wn3wn3wn3wn3w", container: "codedetect-app-2", createdAt: "2026-01-01T12:00:01.5Z", ...overrides });
  const replace = (containers: ServiceStatus[], holder?: ServiceStatus | null) => steps(planReplace(v2, seen(v2, containers, holder === undefined ? portHolderContainer(v2) : holder), ctx, since, "test"));

  it("while the same model runs healthy (nothing an update would do): a new container starts beside it, is gated, then the old one hands over and stops", () => {
    assert.equal(isRunningModel(v2, seen(v2, [current], portHolderContainer(v2))), true, "an update would do nothing here");
    assert.deepEqual(replace([current]), [START_BESIDE, `wait ${REPO}:v2`, ...retire("0ld0ld0ld0ld")]);
  });

  it("a hung server (running, unhealthy) is replaced the same way: it serves nothing useful, but it is only stopped once the new one is healthy", () => {
    assert.deepEqual(replace([{ ...current, health: "unhealthy" }]), [START_BESIDE, `wait ${REPO}:v2`, ...retire("0ld0ld0ld0ld")]);
  });

  it("the old container is dead (the crash supervise recovers from): it is removed, a fresh one starts through the same path and the same gate; nothing to hand over", () => {
    assert.deepEqual(replace([{ ...current, state: "exited", health: "unhealthy" }]), ["rm --force 0ld0ld0ld0ld", "up --detach --pull never --no-recreate --remove-orphans --scale app=1 app", `wait ${REPO}:v2`]);
  });

  it("idempotent: a re-run with the same request time after a kill at any point starts no second container and does only what is left", () => {
    assert.deepEqual(replace([current, replacement({ health: "starting" })]), [`wait ${REPO}:v2`, ...retire("0ld0ld0ld0ld")]);
    assert.deepEqual(replace([current, replacement()]), retire("0ld0ld0ld0ld"));
    assert.deepEqual(replace([{ ...current, state: "exited" }, replacement()]), ["rm --force 0ld0ld0ld0ld"]);
    assert.deepEqual(replace([replacement()]), []);
  });

  it("times are compared as times: Docker's nanoseconds within the request's millisecond count as after it", () => {
    assert.deepEqual(replace([replacement({ createdAt: "2026-01-01T12:00:00.000456789Z" })]), []);
  });

  it("without a fitting port holder there is nothing to start beside: the update's old way (the old one drains, the stack starts with its holder)", () => {
    assert.deepEqual(replace([current], null), ["stop 0ld0ld0ld0ld", "rm 0ld0ld0ld0ld", "up --detach --pull never --remove-orphans", `wait ${REPO}:v2`]);
  });

  it("a replacement that fails its gate goes alone while the old one serves; with nothing older running it is left to Docker's restart policy", () => {
    const failed = replacement({ health: "unhealthy" });
    assert.deepEqual(steps(planAbandonReplace(v2, seen(v2, [current, failed]), ctx, since)), retire("n3wn3wn3wn3w"));
    assert.deepEqual(planAbandonReplace(v2, seen(v2, [{ ...current, state: "exited" }, failed]), ctx, since), []);
  });

  it("a replace of a version the state no longer records (a deploy finished while it waited for the host lock) is refused, naming the recorded one; the recorded one, or no record yet, goes on", () => {
    const recordsV1 = seen(v1, [old]);
    assert.equal(staleReplace(v1, recordsV1, "test"), null);
    assert.equal(staleReplace(v2, { ...recordsV1, state: null }, "test"), null);
    assert.match(staleReplace(v2, recordsV1, "restart: the health check kept failing")?.message ?? "", /^replace codedetect\/app on v2 \(restart: the health check kept failing\): the state directory records v1 \(sha256:[a-f0-9]{12}…\) now, not this version: a deploy finished since .*; next: /);
  });
});

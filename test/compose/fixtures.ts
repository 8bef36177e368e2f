// Shared test values for the compose suites: stack inputs, observed states and a plan context.
import { defineStack, imageRefString, type StackModel } from "../../compose/model.ts";
import type { Observed, PlanContext, ServiceStatus } from "../../compose/plan.ts";
import { appFingerprint, portHolderFingerprint, portHolderService } from "../../compose/render.ts";
import { defaultPullRetry } from "../../compose/plan.ts";
import { statePaths } from "../../compose/state.ts";

export const DIGEST_1 = `sha256:${"1".repeat(64)}`;
export const DIGEST_2 = `sha256:${"2".repeat(64)}`;
export const DIGEST_3 = `sha256:${"3".repeat(64)}`;
export const DIGEST_4 = `sha256:${"4".repeat(64)}`;
export const REPO = "registry.example:5000/codedetect";

/** A container of the model's app service as `docker inspect` shows it (created from this model: its fingerprint). */
export function appContainer(model: StackModel, overrides: Partial<ServiceStatus> = {}): ServiceStatus {
  return {
    service: model.service,
    container: `${model.project}-${model.service}-1`,
    id: "c1",
    state: "running",
    health: "healthy",
    image: imageRefString(model.image),
    imageId: `sha256:${"a".repeat(64)}`,
    repoDigests: [`${model.image.repository}@${model.image.digest}`],
    exitCode: 0,
    restartCount: 0,
    startedAt: "2026-01-01T00:00:00Z",
    createdAt: "2026-01-01T00:00:00Z",
    fingerprint: appFingerprint(model),
    lastHealthOutput: null,
    ...overrides,
  };
}

/** The model's port holder, running. */
export function portHolderContainer(model: StackModel, overrides: Partial<ServiceStatus> = {}): ServiceStatus {
  return appContainer(model, { service: portHolderService(model), container: `${model.project}-${portHolderService(model)}-1`, id: "h1", health: "none", fingerprint: portHolderFingerprint(model), ...overrides });
}

/** What was observed; a `service` given without `containers` runs beside a port holder for the default port. */
export function nothingObserved(overrides: Partial<Observed> = {}): Observed {
  const service = overrides.service;
  const containers = service ? [service, portHolderContainer(defineStack({ image: service.image, efsRoot: "/mnt/efs" }))] : [];
  return {
    composeFile: null,
    state: null,
    service: null,
    containers,
    imagePresent: false,
    missingRollbackImage: null,
    missingDirs: [],
    dockerConfig: null,
    localImages: [],
    imagesInUse: [],
    ...overrides,
  };
}

export function planContext(overrides: Partial<PlanContext> = {}): PlanContext {
  return {
    tools: { docker: "docker", compose: ["docker", "compose"] },
    paths: statePaths("/var/lib/codedetect"),
    pullRetry: defaultPullRetry(),
    pullTimeoutMs: 300_000,
    auth: null,
    healthDeadlineMs: 60_000,
    keep: 3,
    now: "2026-01-02T03:04:05.000Z",
    ...overrides,
  };
}

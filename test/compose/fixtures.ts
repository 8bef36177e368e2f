// Shared test values for the compose suites: stack inputs, observed states and a plan context.
import type { Observed, PlanContext } from "../../compose/plan.ts";
import { defaultPullRetry } from "../../compose/plan.ts";
import { statePaths } from "../../compose/state.ts";

export const DIGEST_1 = `sha256:${"1".repeat(64)}`;
export const DIGEST_2 = `sha256:${"2".repeat(64)}`;
export const DIGEST_3 = `sha256:${"3".repeat(64)}`;
export const DIGEST_4 = `sha256:${"4".repeat(64)}`;
export const REPO = "registry.example:5000/codedetect";

export function nothingObserved(overrides: Partial<Observed> = {}): Observed {
  return {
    composeFile: null,
    state: null,
    service: null,
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

// Pure verdict of the health gate: is the new container healthy, still on its way, or already failed?
import type { ProbeResult } from "./executor.ts";
import type { ServiceStatus } from "./plan.ts";

/** A container as it was before this `up` began: restarts it had then (a crash and Docker's restart policy) are not this gate's to judge. */
export interface RestartBaseline {
  id: string;
  restartCount: number;
}

/**
 * `image` is the reference the new container must run; an older container still running does not count. Restarts are counted
 * from `baseline` when the container is the same one that ran before (a re-run after a crash), from zero for a new one.
 */
export function healthVerdict(service: ServiceStatus | null, image: string, baseline: RestartBaseline | null = null): ProbeResult {
  if (!service) return { state: "pending", detail: "no container yet" };
  if (service.image !== image) return { state: "pending", detail: `the container still runs ${service.image}` };
  if (service.state === "running" && service.health === "healthy") return { state: "done" };
  if (service.state === "exited" || service.state === "dead") return { state: "failed", detail: `the container exited with code ${service.exitCode}` };
  const restarts = service.restartCount - (baseline && baseline.id === service.id ? baseline.restartCount : 0);
  if (service.state === "restarting" || restarts > 0) {
    return { state: "failed", detail: `the container keeps exiting (code ${service.exitCode}, restarted ${restarts} time${restarts === 1 ? "" : "s"} during this deploy)` };
  }
  if (service.health === "unhealthy") {
    return { state: "failed", detail: `health check failing${service.lastHealthOutput ? ` (${service.lastHealthOutput.split("\n").at(-1)})` : ""}` };
  }
  if (service.health === "none") return { state: "failed", detail: "the container has no health check, so it cannot be gated" };
  return { state: "pending", detail: `${service.state}, health ${service.health}` };
}

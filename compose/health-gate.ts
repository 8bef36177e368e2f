// Pure verdict of the health gate: is the new container healthy, still on its way, or already failed?
import type { ProbeResult } from "./executor.ts";
import type { ServiceStatus } from "./plan.ts";

/** `image` is the reference the new container must run; an older container still running does not count. */
export function healthVerdict(service: ServiceStatus | null, image: string): ProbeResult {
  if (!service) return { state: "pending", detail: "no container yet" };
  if (service.image !== image) return { state: "pending", detail: `the container still runs ${service.image}` };
  if (service.state === "running" && service.health === "healthy") return { state: "done" };
  if (service.state === "exited" || service.state === "dead") return { state: "failed", detail: `the container exited with code ${service.exitCode}` };
  if (service.state === "restarting" || service.restartCount > 0) {
    return { state: "failed", detail: `the container keeps exiting (code ${service.exitCode}, restarted ${service.restartCount} time${service.restartCount === 1 ? "" : "s"})` };
  }
  if (service.health === "unhealthy") {
    return { state: "failed", detail: `health check failing${service.lastHealthOutput ? ` (${service.lastHealthOutput.split("\n").at(-1)})` : ""}` };
  }
  if (service.health === "none") return { state: "failed", detail: "the container has no health check, so it cannot be gated" };
  return { state: "pending", detail: `${service.state}, health ${service.health}` };
}

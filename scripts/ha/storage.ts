// Scenario 5's fault: one instance's view of the shared storage made read-only (its host bind mount and its container's mounts), then writable again.
import { execa } from "execa";
import { instanceShared, type FleetOptions, type Instance } from "./fleet.ts";

async function containerMounts(instance: Instance, view: string): Promise<{ pid: number; destinations: string[] }[]> {
  const ids = (await execa("docker", ["ps", "--quiet", "--filter", `label=com.docker.compose.project=${instance.project}`])).stdout.split("\n").filter(Boolean);
  const found: { pid: number; destinations: string[] }[] = [];
  for (const id of ids) {
    const inspected = JSON.parse((await execa("docker", ["inspect", id])).stdout) as { State: { Pid: number }; Mounts: { Source: string; Destination: string }[] }[];
    for (const container of inspected) {
      found.push({ pid: container.State.Pid, destinations: container.Mounts.filter((m) => m.Source.startsWith(view)).map((m) => m.Destination) });
    }
  }
  return found;
}

/**
 * Read-only (or writable again): the host view (so a container the supervisor recreates sees the same) and, inside the running
 * container's mount namespace, each mount taken from it. A mount with a file open for writing (the database) refuses to turn
 * read-only (EBUSY): what did not change is returned.
 */
export async function setStorageReadOnly(options: FleetOptions, instance: Instance, readOnly: boolean): Promise<string[]> {
  const view = instanceShared(options, instance);
  const flags = `remount,${readOnly ? "ro" : "rw"},bind`;
  const refused: string[] = [];
  const host = await execa("mount", ["-o", flags, view], { reject: false });
  if (host.exitCode !== 0) refused.push(`${view}: ${String(host.stderr).trim().split("\n")[0]}`);
  for (const { pid, destinations } of await containerMounts(instance, view)) {
    for (const destination of destinations) {
      // A file open for writing (an upload being stored) makes the remount busy for a moment: tried again, bounded.
      let inside = await execa("nsenter", ["-t", String(pid), "-m", "mount", "-o", flags, destination], { reject: false });
      for (let attempt = 0; inside.exitCode !== 0 && /busy/.test(String(inside.stderr)) && !destination.endsWith("/database") && attempt < 200; attempt += 1) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        inside = await execa("nsenter", ["-t", String(pid), "-m", "mount", "-o", flags, destination], { reject: false });
      }
      if (inside.exitCode !== 0) refused.push(`${destination} in the container: ${String(inside.stderr).trim().split("\n")[0]}`);
    }
  }
  return refused;
}

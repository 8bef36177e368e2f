// A fleet on one machine: HAProxy in front of N instances of the real agent (local mode), slots for replacements, and the teardown.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { execa } from "execa";
import { serverStat } from "../../bootstrap/adapters/haproxy.ts";
import { launch, newInstance, removeProjects, unmountViews, type FleetOptions, type Instance } from "./fleet.ts";
import { BACKEND, startHaproxy, type Slot } from "./haproxy.ts";
import { makeOldLayout } from "./old-layout.ts";

export interface Harness {
  options: FleetOptions;
  slots: Slot[];
  /** The instances in service now. */
  live: Instance[];
  /** Every instance ever started (for the teardown). */
  all: Instance[];
  /** The image the fleet runs (pinned by digest). */
  image: string;
  counter: number;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Why the fleet cannot run here, or null: it needs haproxy and a Docker Engine with Compose v2 and the base image. */
export async function fleetUnavailable(): Promise<string | null> {
  const haproxy = await execa("haproxy", ["-v"], { reject: false });
  if (haproxy.exitCode !== 0) return "haproxy not installed (scripts/setup.sh --test installs it)";
  const compose = await execa("docker", ["compose", "version", "--short"], { reject: false, timeout: 20_000 });
  if (compose.exitCode !== 0) return "Docker Compose v2 not available";
  const engine = await execa("docker", ["info", "--format", "{{.ServerVersion}}"], { reject: false, timeout: 20_000 });
  if (engine.exitCode !== 0) return "no Docker Engine reachable";
  const base = await execa("docker", ["image", "inspect", "node:24-trixie-slim"], { reject: false, timeout: 20_000 });
  if (base.exitCode !== 0) return "base image node:24-trixie-slim missing";
  return null;
}

/** HAProxy with `slotCount` slots, then `size` instances: the first builds the image from the Dockerfile, the others reuse it. */
export async function startFleet(options: { root: string; prefix: string; size: number; slotCount: number; views?: boolean; oldLayout?: boolean }): Promise<Harness> {
  fs.mkdirSync(options.root, { recursive: true });
  const migrateFrom = options.oldLayout ? path.join(options.root, "old") : null;
  if (migrateFrom) makeOldLayout(migrateFrom, 20, 50);
  const slots: Slot[] = [];
  for (let i = 1; i <= options.slotCount; i += 1) slots.push({ server: `s${i}`, port: await freePort() });
  const haproxy = await startHaproxy(path.join(options.root, "haproxy"), await freePort(), slots);
  const harness: Harness = { options: { root: options.root, prefix: options.prefix, haproxy, views: options.views === true, migrateFrom }, slots, live: [], all: [], image: "", counter: 0 };
  try {
    const first = await addInstance(harness, null);
    harness.image = first.image!;
    await Promise.all(Array.from({ length: options.size - 1 }, () => addInstance(harness, harness.image)));
  } catch (error) {
    // nobody holds the harness yet: what was started is removed here
    await stopFleet(harness);
    throw error;
  }
  return harness;
}

/** A slot no live instance holds. */
function freeSlot(harness: Harness): Slot {
  const slot = harness.slots.find((s) => !harness.live.some((i) => i.slot.server === s.server) && !harness.all.some((i) => i.slot.server === s.server && i.supervisor));
  if (!slot) throw new Error("no free slot in the HAProxy backend");
  return slot;
}

/** A new instance in a free slot: bootstrap (health-gated, registered, healthy in HAProxy), then supervised. */
export async function addInstance(harness: Harness, image: string | null): Promise<Instance> {
  harness.counter += 1;
  const instance = newInstance(harness.options, `i${harness.counter}`, freeSlot(harness), image);
  harness.all.push(instance);
  harness.live.push(instance);
  try {
    await launch(harness.options, instance);
  } catch (error) {
    harness.live = harness.live.filter((i) => i !== instance);
    throw error;
  }
  return instance;
}

export function retire(harness: Harness, instance: Instance): void {
  harness.live = harness.live.filter((i) => i !== instance);
}

/** HAProxy's status of an instance's slot ("UP", "DOWN", "MAINT", …). */
export async function slotStatus(harness: Harness, instance: Instance): Promise<string> {
  return (await serverStat(harness.options.haproxy.socket, BACKEND, instance.slot.server))?.status ?? "absent";
}

/** The backend's retry and redispatch counters: requests HAProxy sent again (to another server) instead of failing them. */
export async function backendRetries(harness: Harness): Promise<{ retries: number; redispatches: number }> {
  const stat = await serverStat(harness.options.haproxy.socket, BACKEND, "BACKEND");
  return { retries: stat?.retries ?? 0, redispatches: stat?.redispatches ?? 0 };
}

export async function stopFleet(harness: Harness | null): Promise<void> {
  if (!harness) return;
  await removeProjects(harness.all);
  await unmountViews(harness.options, harness.all);
  await harness.options.haproxy.stop();
}

// The fleet's instances: each the real agent in local mode (own state dir, Compose project, port), sharing one directory that stands in for EFS.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { PRIVATE_IPV4_RANGES } from "../../cloudformation/template/settings.ts";
import { balancerFor, type Haproxy, type Slot } from "./haproxy.ts";
import { readLocalImage } from "../../bootstrap/stack.ts";
import { stateFile } from "../../bootstrap/state-files.ts";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
const CLI = path.join(REPO_ROOT, "bootstrap", "cli.ts");

export interface FleetOptions {
  /** Everything of this run lives here (state dirs, shared dir, logs). */
  root: string;
  /** Compose project prefix, unique to the run ("cdha-<pid>"). */
  prefix: string;
  haproxy: Haproxy;
  /** Each instance sees the shared directory through a bind mount of its own (views/<name>), so its storage can fail alone. */
  views: boolean;
  /** The old layout every instance is pointed at (only the first migrates it), or null. */
  migrateFrom: string | null;
}

export interface Instance {
  name: string;
  slot: Slot;
  stateDir: string;
  project: string;
  image: string | null;
  supervisor: ChildProcess | null;
  supervisorExit: Promise<number | null> | null;
}

export function sharedDir(options: FleetOptions): string {
  return path.join(options.root, "shared");
}

/** The directory an instance is given as its shared dir: its own bind mount of the shared dir, or the shared dir itself. */
export function instanceShared(options: FleetOptions, instance: Instance): string {
  return options.views ? path.join(options.root, "views", instance.name) : sharedDir(options);
}

async function mounted(dir: string): Promise<boolean> {
  return (await execa("mountpoint", ["-q", dir], { reject: false })).exitCode === 0;
}

/** `mount --bind SHARED views/<name>` (once): the instance's own view of the stand-in for EFS. */
async function mountView(options: FleetOptions, instance: Instance): Promise<void> {
  if (!options.views) return;
  const view = instanceShared(options, instance);
  fs.mkdirSync(sharedDir(options), { recursive: true });
  fs.mkdirSync(view, { recursive: true });
  if (!(await mounted(view))) await execa("mount", ["--bind", sharedDir(options), view]);
}

/** Unmounts the views (the end of a run). */
export async function unmountViews(options: FleetOptions, instances: Instance[]): Promise<void> {
  if (!options.views) return;
  for (const instance of instances) {
    const view = instanceShared(options, instance);
    if (await mounted(view)) await execa("umount", ["--lazy", view], { reject: false });
  }
}

function agentArgs(options: FleetOptions, instance: Instance): string[] {
  return ["--local", "--state-dir", instance.stateDir, "--shared-dir", instanceShared(options, instance), "--port", String(instance.slot.port), ...(options.migrateFrom ? ["--migrate-from", options.migrateFrom] : []), ...(instance.image ? ["--image", instance.image] : [])];
}

function agentEnv(options: FleetOptions, instance: Instance): Record<string, string> {
  return {
    CODEDETECT_PROJECT: instance.project,
    CODEDETECT_TARGET_GROUP_ARN: balancerFor(options.haproxy, instance.slot),
    CODEDETECT_SUPERVISE_INTERVAL_SECONDS: "1",
    CODEDETECT_VERIFY_WAIT_SECONDS: "120",
    // each instance stands for a host of its own, with its own host lock (one deploy at a time per host, not per fleet)
    COMPOSE_LOCK_DIR: path.join(options.root, "lock", instance.name),
    // as the template tags every instance on AWS: the balancer's addresses (here the Docker bridge's gateway, a private range) are trusted proxies
    CODEDETECT_TRUSTED_PROXIES: PRIVATE_IPV4_RANGES,
  };
}

export function newInstance(options: FleetOptions, name: string, slot: Slot, image: string | null): Instance {
  return { name, slot, stateDir: path.join(options.root, "state", name), project: `${options.prefix}-${name}`, image, supervisor: null, supervisorExit: null };
}

/** `bootstrap --local`: up, health-gated, registered with HAProxy (the verify step) and healthy there. */
export async function bootstrap(options: FleetOptions, instance: Instance): Promise<void> {
  await mountView(options, instance);
  const logFile = path.join(options.root, `${instance.name}.bootstrap.log`);
  const result = await execa(process.execPath, [CLI, ...agentArgs(options, instance)], { env: { ...process.env, ...agentEnv(options, instance) }, reject: false, all: true, timeout: 900_000 });
  fs.appendFileSync(logFile, `${String(result.all ?? "").trimEnd()}\n`);
  if (result.exitCode !== 0) throw new Error(`bootstrap of ${instance.name} failed (exit ${result.exitCode}); see ${logFile}: ${String(result.all ?? "").trim().split("\n").slice(-3).join(" | ")}`);
  if (!instance.image) instance.image = pinnedLocalImage(instance.stateDir);
}

/** The image local mode built and pinned by digest in this state dir, read with the agent's own schema (bootstrap/stack.ts). */
export function pinnedLocalImage(stateDir: string): string {
  const record = readLocalImage(stateDir);
  if (!record) throw new Error(`no image recorded in ${stateFile(stateDir, "localImage")}`);
  return record.image;
}

/** `supervise --local` in its own process group (as systemd runs it): SIGTERM to the group is a stop. */
export function startSupervisor(options: FleetOptions, instance: Instance): void {
  const log = fs.openSync(path.join(options.root, `${instance.name}.supervise.log`), "a");
  const child = spawn(process.execPath, [CLI, "supervise", ...agentArgs(options, instance)], { env: { ...process.env, ...agentEnv(options, instance) }, stdio: ["ignore", log, log], detached: true });
  fs.closeSync(log);
  instance.supervisor = child;
  instance.supervisorExit = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

/** Brings an instance up and under supervision. */
export async function launch(options: FleetOptions, instance: Instance): Promise<void> {
  await bootstrap(options, instance);
  startSupervisor(options, instance);
}

/** SIGTERM to the supervise process group, as systemd's stop sends it; resolves with its exit code once it has left the pool, drained and stopped. */
export async function terminate(instance: Instance): Promise<number | null> {
  if (!instance.supervisor?.pid || !instance.supervisorExit) throw new Error(`${instance.name} is not supervised`);
  process.kill(-instance.supervisor.pid, "SIGTERM");
  const code = await instance.supervisorExit;
  instance.supervisor = null;
  return code;
}

/** The host pids of the project's containers. */
export async function containerPids(instance: Instance): Promise<number[]> {
  const ids = (await execa("docker", ["ps", "--quiet", "--filter", `label=com.docker.compose.project=${instance.project}`])).stdout.split("\n").filter(Boolean);
  const pids: number[] = [];
  for (const id of ids) pids.push(Number((await execa("docker", ["inspect", "--format", "{{.State.Pid}}", id])).stdout.trim()));
  return pids.filter((pid) => pid > 0);
}

/** kill -9 of the instance's agent (the supervise group) and of its container's main process: a crash, nothing drains. */
export async function crash(instance: Instance): Promise<void> {
  const pids = await containerPids(instance);
  if (instance.supervisor?.pid) process.kill(-instance.supervisor.pid, "SIGKILL");
  for (const pid of pids) process.kill(pid, "SIGKILL");
  await instance.supervisorExit;
  instance.supervisor = null;
}

/** Removes every Compose project of the run (the end of a run, or a failed one). */
export async function removeProjects(instances: Instance[]): Promise<void> {
  for (const instance of instances) {
    if (instance.supervisor?.pid) {
      try {
        process.kill(-instance.supervisor.pid, "SIGKILL");
      } catch {}
    }
    await execa("docker", ["compose", "--project-name", instance.project, "down", "--remove-orphans", "--timeout", "5"], { reject: false, timeout: 120_000 });
  }
}

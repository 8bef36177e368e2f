// A fleet of real agents in AWS mode against the AWS twin (test/twin): the twin's group launches each instance through here, an ALB-like data plane routes to the targets the twin calls healthy, systemd's unit relationship decides whether the supervisor starts.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { parse, parse as parseYaml } from "yaml";
import { userData } from "../../bootstrap/user-data/cloud-config.ts";
import { EXAMPLE_VALUES } from "../../bootstrap/user-data/values.ts";
import { DRAIN_SECONDS, GROUP_LOGICAL_ID, HEALTH_CHECK_GRACE_SECONDS, HEALTH_INTERVAL_SECONDS, HEALTH_TIMEOUT_SECONDS, HEALTHY_THRESHOLD, LIFECYCLE_HOOK_NAME, TERMINATION_HEARTBEAT_SECONDS, UNHEALTHY_THRESHOLD } from "../../cloudformation/template/settings.ts";
import { startAlb, type Alb } from "../../test/twin/alb.ts";
import type { Transition, TwinInstance } from "../../test/twin/autoscaling.ts";
import type { Stack } from "../../test/twin/cloudformation.ts";
import type { TargetGroup } from "../../test/twin/elbv2.ts";
import { startTwin, type Twin } from "../../test/twin/twin.ts";
import { pinnedLocalImage, REPO_ROOT } from "./fleet.ts";
import { freePort } from "./harness.ts";

const CLI = path.join(REPO_ROOT, "bootstrap", "cli.ts");
const FILE_SYSTEM_ID = "fs-0123456789abcdef0";
const REGION = "eu-west-1";

/** One EC2 instance of the twin, as this machine runs it: the agent (the launcher unit), then the supervisor (its own unit). */
export interface AgentInstance {
  twin: TwinInstance;
  host: string;
  dir: string;
  stateDir: string;
  mountPoint: string;
  project: string;
  /** The bootstrap agent's process (the launcher unit's run). */
  agent: ChildProcess | null;
  /** The agent's exit code once its run ended. */
  agentCode: number | null;
  agentDone: Promise<number | null>;
  supervisor: ChildProcess | null;
  /** How many times "systemd" started the supervisor. */
  supervisorStarts: number;
  /** Why the supervisor was not started, when it was not. */
  supervisorSkipped: string | null;
  /** The EC2 instance is gone (or going): nothing restarts. */
  ended: boolean;
  configFile: string;
  env: Record<string, string>;
}

export interface AwsFleet {
  twin: Twin;
  alb: Alb;
  targetGroup: TargetGroup;
  stack: Stack;
  root: string;
  image: string;
  port: number;
  instances: Map<string, AgentInstance>;
  groupName: string;
  stop(): Promise<void>;
}

export interface AwsFleetOptions {
  root: string;
  /** Compose project prefix, unique to the run. */
  prefix: string;
  /** The image (pinned by digest, present in the engine). */
  image: string;
  size: number;
  /** AWS seconds × timeScale = real seconds (0.2: the template's 240 s grace in 48 s). */
  timeScale: number;
  log: (line: string) => void;
  /** The old single-instance layout every instance is pointed at (migrateFrom); default none. */
  migrateFrom?: string | null;
  /** More agent settings (the figures a scenario scales), merged into each instance's configuration file. */
  agentConfig?: Record<string, unknown>;
  /** More environment for one instance's agent and supervisor (test hooks). */
  agentEnv?: (instanceId: string) => Record<string, string>;
}

/** The group's lifecycle hooks as the committed template declares them (so the twin's group has exactly the template's hooks). */
export function templateHooks(): { name: string; transition: Transition; heartbeatTimeoutSeconds: number; defaultResult: "CONTINUE" | "ABANDON" }[] {
  const template = parseYaml(fs.readFileSync(path.join(REPO_ROOT, "cloudformation", "codedetect.yaml"), "utf8"));
  const hooks = template.Resources.AutoScalingGroup.Properties.LifecycleHookSpecificationList as { LifecycleHookName: string; LifecycleTransition: Transition; HeartbeatTimeout: number; DefaultResult: "CONTINUE" | "ABANDON" }[];
  return hooks.map((hook) => ({ name: hook.LifecycleHookName, transition: hook.LifecycleTransition, heartbeatTimeoutSeconds: hook.HeartbeatTimeout, defaultResult: hook.DefaultResult }));
}

/** The supervisor's systemd unit as user data writes it on an instance. */
function supervisorUnit(): string {
  const files = (parse(userData(EXAMPLE_VALUES).text) as { write_files: { path: string; content: string }[] }).write_files;
  const unit = files.find((file) => file.path.endsWith("/codedetect-supervisor.service"));
  if (!unit) throw new Error("user data writes no codedetect-supervisor.service");
  return unit.content;
}

/** The supervisor unit's relationship to the agent's, as systemd reads it: Requires= (or BindsTo=, Requisite=) skips it when the agent's run failed; Wants= starts it anyway. */
export function supervisorNeedsAgentSuccess(unitText = supervisorUnit()): boolean {
  return /^(Requires|BindsTo|Requisite)=.*codedetect-agent\.service/m.test(unitText);
}
function restartSeconds(unitText = supervisorUnit()): number | null {
  if (!/^Restart=(always|on-failure)$/m.test(unitText)) return null;
  return Number(/^RestartSec=(\d+)$/m.exec(unitText)?.[1] ?? "0.1");
}

/** The `mount` stand-in (no NFS in this kernel): bind-mounts the shared directory at the mount point and writes the nfs4 line the kernel would show for EFS (the agent's BOOTSTRAP_TEST_MOUNTINFO_EXTRA hook). */
function writeMountStandIn(bin: string): void {
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(
    path.join(bin, "mount"),
    [
      "#!/bin/sh",
      "# stand-in for mount.nfs4 on a machine without NFS: the last two arguments are SOURCE and MOUNTPOINT",
      'for last; do :; done; mp="$last"',
      'mkdir -p "$mp"',
      '/bin/mount --bind "$CDHA_SHARED" "$mp" || exit 32',
      '# the source the kernel shows for EFS, whether mount was called with the DNS name (nfs4) or fs-id:/ (mount.efs, TLS)',
      'printf "999 1 0:999 / %s rw,relatime - nfs4 %s rw,vers=4.1\\n" "$mp" "$CDHA_EFS_SOURCE" >> "$BOOTSTRAP_TEST_MOUNTINFO_EXTRA"',
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  // An agent that requires amazon-efs-utils looks for mount.efs (BOOTSTRAP_TEST_MOUNT_HELPER_DIR on main): present, never run.
  fs.writeFileSync(path.join(bin, "mount.efs"), "#!/bin/sh\necho 'stand-in: mount.efs is not run here; mount(8) is the stand-in' >&2\nexit 1\n", { mode: 0o755 });
}

async function spawnLogged(args: string[], env: Record<string, string>, logFile: string): Promise<ChildProcess> {
  const log = fs.openSync(logFile, "a");
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", log, log], detached: true });
  fs.closeSync(log);
  return child;
}

function killGroup(child: ChildProcess | null, signal: NodeJS.Signals): void {
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {}
}

/** "systemctl start" of the supervisor unit; its Restart= starts it again after RestartSec when it exits by itself. */
async function startSupervisor(instance: AgentInstance): Promise<void> {
  if (instance.ended) return;
  instance.supervisorStarts += 1;
  const child = await spawnLogged(["supervise", "--config", instance.configFile], instance.env, path.join(instance.dir, "supervise.log"));
  instance.supervisor = child;
  child.once("exit", () => {
    if (instance.supervisor !== child) return;
    instance.supervisor = null;
    const restart = restartSeconds();
    if (restart !== null && !instance.ended) setTimeout(() => void startSupervisor(instance), restart * 1000);
  });
}

/** Builds (or reuses from Docker's cache) the app image and pins it by digest: local mode's own image step, nothing else. */
export async function buildPinnedImage(root: string): Promise<string> {
  const stateDir = path.join(root, "image-state");
  const result = await execa(process.execPath, [CLI, "--local", "--state-dir", stateDir, "--shared-dir", path.join(root, "image-shared"), "--until", "image"], { reject: false, all: true, timeout: 900_000 });
  if (result.exitCode !== 0) throw new Error(`building the image failed: ${String(result.all).trim().split("\n").slice(-3).join(" | ")}`);
  return pinnedLocalImage(stateDir);
}

/** The twin, an ALB in front, a stack whose group launches `size` real agents in AWS mode and waits for their signals. */
export async function startAwsFleet(options: AwsFleetOptions): Promise<AwsFleet> {
  const { root, log } = options;
  const shared = path.join(root, "shared");
  const bin = path.join(root, "bin");
  fs.mkdirSync(shared, { recursive: true });
  writeMountStandIn(bin);
  const port = await freePort();
  const instances = new Map<string, AgentInstance>();
  let counter = 0;
  const groupName = `${options.prefix}-instances`;
  const stackName = options.prefix;
  let targetGroupArn = "";
  const hooks = templateHooks();
  const launchHook = hooks.find((hook) => hook.transition === "autoscaling:EC2_INSTANCE_LAUNCHING") ?? null;

  async function launch(twinInstance: TwinInstance): Promise<string> {
    counter += 1;
    const host = `127.0.0.${100 + counter}`;
    const dir = path.join(root, "instances", twinInstance.id);
    fs.mkdirSync(path.join(dir, "state"), { recursive: true });
    fs.writeFileSync(path.join(dir, "fstab"), "");
    // What user data writes (bootstrap/user-data/cloud-config.ts agentConfig), plus this machine's endpoints, paths and figures.
    const config = {
      mode: "aws",
      image: options.image,
      fileSystemId: FILE_SYSTEM_ID,
      region: REGION,
      stackName,
      logicalResourceId: GROUP_LOGICAL_ID,
      targetGroupArn,
      autoScalingGroup: groupName,
      lifecycleHook: LIFECYCLE_HOOK_NAME,
      drainSeconds: Math.max(1, Math.round(DRAIN_SECONDS * options.timeScale)),
      awsEndpoint: twin.url,
      imdsEndpoint: twinInstance.imdsUrl,
      stateDir: path.join(dir, "state"),
      sharedDir: path.join(dir, "mnt", "efs"),
      fstab: path.join(dir, "fstab"),
      migrateFrom: options.migrateFrom ?? null,
      // The template's launching hook, as user data names it (agentConfig), when the template has one.
      ...(launchHook ? { launchHook: launchHook.name } : {}),
      port,
      bindAddress: host,
      project: `${options.prefix}-${counter}`,
      verifyWaitSeconds: 180,
      superviseIntervalSeconds: 1,
      ...options.agentConfig,
    };
    const configFile = path.join(dir, "bootstrap.json");
    fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
    const env: Record<string, string> = {
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      AWS_EC2_METADATA_DISABLED: "true",
      PATH: `${bin}:${process.env.PATH}`,
      CDHA_SHARED: shared,
      CDHA_EFS_SOURCE: `${FILE_SYSTEM_ID}.efs.${REGION}.amazonaws.com:/`,
      BOOTSTRAP_TEST_MOUNT_HELPER_DIR: bin,
      BOOTSTRAP_TEST_MOUNTINFO_EXTRA: path.join(dir, "mountinfo-extra"),
      COMPOSE_LOCK_DIR: path.join(root, "lock"),
      ...options.agentEnv?.(twinInstance.id),
    };
    const instance: AgentInstance = { twin: twinInstance, host, dir, stateDir: config.stateDir, mountPoint: config.sharedDir, project: config.project, agent: null, agentCode: null, agentDone: Promise.resolve(null), supervisor: null, supervisorStarts: 0, supervisorSkipped: null, ended: false, configFile, env };
    instances.set(twinInstance.id, instance);
    log(`${twinInstance.id} launched (${twinInstance.cause}) at ${host}:${port}`);
    // The launcher unit runs the agent; the supervisor unit follows it as its [Unit] section says.
    const agent = await spawnLogged(["--config", configFile, "--json"], env, path.join(dir, "agent.log"));
    instance.agent = agent;
    instance.agentDone = new Promise((resolve) => agent.once("exit", (code) => resolve(code)));
    void instance.agentDone.then(async (code) => {
      instance.agentCode = code;
      log(`${twinInstance.id}: agent exited ${code}`);
      if (instance.ended) return;
      if (code !== 0 && supervisorNeedsAgentSuccess()) {
        instance.supervisorSkipped = "the supervisor unit Requires= the agent's, whose run failed: systemd does not start it";
        log(`${twinInstance.id}: ${instance.supervisorSkipped}`);
        return;
      }
      await startSupervisor(instance);
    });
    return host;
  }

  /** The EC2 instance ends: its processes are killed, its containers removed, its mount undone. */
  async function terminate(twinInstance: TwinInstance): Promise<void> {
    const instance = instances.get(twinInstance.id);
    if (!instance) return;
    instance.ended = true;
    killGroup(instance.agent, "SIGKILL");
    killGroup(instance.supervisor, "SIGKILL");
    await execa("docker", ["compose", "--project-name", instance.project, "down", "--remove-orphans", "--timeout", "5"], { reject: false, timeout: 120_000 });
    await execa("umount", ["--lazy", instance.mountPoint], { reject: false });
    log(`${twinInstance.id} terminated (${twinInstance.cause})`);
  }

  const alb = await startAlb({ idleTimeoutSeconds: 60 });
  const twin = await startTwin({ region: REGION, timeScale: options.timeScale, launch, terminate, fileSystems: [{ id: FILE_SYSTEM_ID, zones: [`${REGION}a`, `${REGION}b`] }], onEvent: (e) => fs.appendFileSync(path.join(root, "twin-events.log"), `${e.at.toFixed(1)} ${e.resource} ${e.what}\n`) });
  const targetGroup = twin.elbv2.createTargetGroup({
    name: options.prefix.slice(0, 32),
    port,
    healthCheck: { path: "/api/health", intervalSeconds: HEALTH_INTERVAL_SECONDS, timeoutSeconds: HEALTH_TIMEOUT_SECONDS, healthyThreshold: HEALTHY_THRESHOLD, unhealthyThreshold: UNHEALTHY_THRESHOLD },
    deregistrationDelaySeconds: DRAIN_SECONDS,
    setTargets: (targets) => alb.setTargets(targets),
  });
  targetGroupArn = targetGroup.arn;
  const stack = twin.cloudformation.createStack({
    name: stackName,
    logicalResourceId: GROUP_LOGICAL_ID,
    signalCount: options.size,
    // The template's CreationPolicy Timeout PT15M.
    signalTimeoutSeconds: 900,
    group: {
      name: groupName,
      min: options.size,
      max: options.size + 2,
      desired: options.size,
      zones: [`${REGION}a`, `${REGION}b`],
      targetGroupArns: [targetGroup.arn],
      healthCheckType: "ELB",
      gracePeriodSeconds: HEALTH_CHECK_GRACE_SECONDS,
      hooks,
    },
  });
  const fleet: AwsFleet = {
    twin,
    alb,
    targetGroup,
    stack,
    root,
    image: options.image,
    port,
    instances,
    groupName,
    async stop() {
      for (const instance of instances.values()) {
        instance.ended = true;
        killGroup(instance.supervisor, "SIGKILL");
        killGroup(instance.agent, "SIGKILL");
      }
      await twin.close();
      await alb.close();
      for (const instance of instances.values()) {
        await execa("docker", ["compose", "--project-name", instance.project, "down", "--remove-orphans", "--timeout", "5"], { reject: false, timeout: 120_000 });
        await execa("umount", ["--lazy", instance.mountPoint], { reject: false });
      }
    },
  };
  return fleet;
}

/** systemctl restart of the supervisor unit: SIGTERM to its process group, wait for it to end (its own stop), start it again. */
export async function restartSupervisor(instance: AgentInstance): Promise<number | null> {
  const child = instance.supervisor;
  if (!child) throw new Error(`${instance.twin.id} has no running supervisor`);
  instance.supervisor = null;
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  killGroup(child, "SIGTERM");
  const code = await exited;
  await startSupervisor(instance);
  return code;
}

/** kill -9 of everything on the instance that serves: the agent's processes and the app container's main process (the EC2 instance stays "running"). */
export async function crashInstance(instance: AgentInstance): Promise<void> {
  instance.ended = true;
  killGroup(instance.supervisor, "SIGKILL");
  const ids = (await execa("docker", ["ps", "--quiet", "--filter", `label=com.docker.compose.project=${instance.project}`])).stdout.split("\n").filter(Boolean);
  // No restart policy first: a dead instance does not come back by itself.
  for (const id of ids) {
    await execa("docker", ["update", "--restart", "no", id], { reject: false });
    await execa("docker", ["kill", "--signal", "KILL", id], { reject: false });
  }
}

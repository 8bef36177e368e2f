// Step 2, mount: wait for this zone's EFS mount target, mount it (amazon-efs-utils, TLS), one fstab line, then prove it in mountinfo.
import fs from "node:fs";
import type { AgentAction } from "../../compose/actions.ts";
import type { Probe } from "../../compose/executor.ts";
import type { MountTargetState } from "../adapters/aws.ts";
import { efsDnsName, fstabLine, fstabWithLine, mountArgv, type MountSpec } from "../adapters/fstab.ts";
import { mountDiagnoses } from "../adapters/mount-errors.ts";
import { describeEntry, observeMount, type ExpectedMount, type MountCheck, type MountEntry } from "../adapters/mountinfo.ts";
import type { Config } from "../config.ts";
import { StepError } from "../errors.ts";
import type { Context, Step } from "../step.ts";

export type MountSeen =
  | { mode: "local"; exists: boolean }
  | {
      mode: "aws";
      spec: MountSpec;
      /** amazon-efs-utils' mount helper where mount(8) looks for it, or null when it is not installed. */
      mountHelper: string | null;
      zone: string;
      /** This zone's mount target; null when the file system has none there. */
      target: MountTargetState | null;
      mount: MountCheck;
      fstab: string;
    };

export const MOUNT_RETRY = { attempts: 3, minDelayMs: 2000, maxDelayMs: 15_000, deadlineMs: 120_000 };

const EFS_UTILS_STATE = "/var/run/efs";

/** A mount of this file system: by its DNS name, its mount target's address, or efs-utils' TLS tunnel with its state file. */
export function expectedMount(spec: MountSpec, target: MountTargetState | null): ExpectedMount {
  return {
    fsTypes: ["nfs4", "nfs"],
    matches(entry: MountEntry) {
      const host = entry.source.replace(/:\/.*$/, "").replace(/:\/$/, "");
      if (host === efsDnsName(spec) || (target?.ipAddress && host === target.ipAddress)) return true;
      if (host !== "127.0.0.1") return false;
      const prefix = `${spec.fileSystemId}.${spec.mountPoint.replace(/^\//, "").replaceAll("/", ".")}.`;
      try {
        return fs.readdirSync(EFS_UTILS_STATE).some((name) => name.startsWith(prefix));
      } catch {
        return false;
      }
    },
  };
}

/**
 * Where mount(8) looks for a type's helper (util-linux: /sbin, /sbin/fs.d, /sbin/fs; /usr/sbin on merged-/usr systems).
 * BOOTSTRAP_TEST_MOUNT_HELPER_DIR: a test's directory instead (this machine has no amazon-efs-utils).
 */
function helperDirs(): string[] {
  const testDir = process.env.BOOTSTRAP_TEST_MOUNT_HELPER_DIR;
  return testDir ? [testDir] : ["/sbin", "/usr/sbin", "/sbin/fs.d", "/sbin/fs"];
}

function findMountHelper(): string | null {
  return helperDirs().map((dir) => `${dir}/mount.efs`).find((file) => fs.existsSync(file)) ?? null;
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "";
    throw error;
  }
}

function failure(action: string, cause: string, next: string): StepError {
  return new StepError({ step: "mount", action, cause, next });
}

export function planMount(seen: MountSeen, config: Config): AgentAction[] {
  if (seen.mode === "local") return seen.exists ? [] : [{ kind: "mkdir", path: config.sharedDir, mode: 0o755 }];
  const { spec } = seen;
  const line = fstabLine(spec);
  const fstab = fstabWithLine(seen.fstab, line, spec.mountPoint);
  const writeFstab: AgentAction[] = fstab === seen.fstab ? [] : [{ kind: "write", path: config.fstab, content: fstab, mode: 0o644 }];
  // Before anything changes: without amazon-efs-utils there is no TLS mount, and this stack's file system refuses
  // every other (its policy denies aws:SecureTransport false); a plain NFS mount would fail as if the network did.
  if (seen.mountHelper === null && (seen.mount.state !== "mounted" || writeFstab.length > 0)) {
    throw failure(
      `mount ${spec.fileSystemId} on ${spec.mountPoint}`,
      "amazon-efs-utils is not installed (no mount.efs where mount looks for it): the file system accepts only TLS mounts, which need it",
      "dnf install -y amazon-efs-utils (the launcher installs it at boot), then re-run",
    );
  }
  if (seen.mount.state === "mounted") return writeFstab;
  if (seen.mount.state === "other") {
    throw failure(`mount ${spec.fileSystemId} on ${spec.mountPoint}`, `${spec.mountPoint} is already a mount of ${describeEntry(seen.mount.entry)}, not ${spec.fileSystemId}`, `unmount it (umount ${spec.mountPoint}) or set sharedDir elsewhere, then re-run`);
  }
  if (seen.target === null) {
    throw failure(`find the mount target of ${spec.fileSystemId} in ${seen.zone}`, `the file system has no mount target in ${seen.zone}`, `add a mount target in ${seen.zone} to the stack (or check fileSystemId), then re-run`);
  }
  if (!["available", "creating", "updating"].includes(seen.target.state)) {
    throw failure(`mount target ${seen.target.mountTargetId} in ${seen.zone}`, `is ${seen.target.state}`, "check the stack's mount targets; this instance cannot use the file system");
  }
  const actions: AgentAction[] = [];
  if (seen.target.state !== "available") {
    actions.push({
      kind: "wait",
      until: `efs-mount-target:${spec.fileSystemId}:${seen.zone}`,
      deadlineMs: config.mountTargetWaitSeconds * 1000,
      next: `re-run \`npm run bootstrap\` later, or check the stack's mount target ${seen.target.mountTargetId} in ${seen.zone}`,
    });
  }
  if (seen.mount.state === "missing") actions.push({ kind: "mkdir", path: spec.mountPoint, mode: 0o755 });
  actions.push(...writeFstab);
  actions.push({
    kind: "run",
    argv: mountArgv(spec),
    timeoutMs: 60_000,
    retry: MOUNT_RETRY,
    purpose: `mount ${spec.fileSystemId} on ${spec.mountPoint}`,
    next: `look at /var/log/amazon/efs/mount.log (amazon-efs-utils' own log), then re-run \`npm run bootstrap\``,
    diagnoses: mountDiagnoses({ fileSystemId: spec.fileSystemId, zone: seen.zone }),
  });
  actions.push({ kind: "wait", until: `mounted:${spec.mountPoint}`, deadlineMs: 5000, next: `the mount command succeeded but ${spec.mountPoint} is not a mount of ${spec.fileSystemId}: look at \`findmnt ${spec.mountPoint}\`` });
  return actions;
}

async function observeMountStep(ctx: Context): Promise<MountSeen> {
  const config = ctx.config;
  if (config.mode === "local") return { mode: "local", exists: fs.existsSync(config.sharedDir) };
  if (!ctx.identity) throw new Error("identity unknown (the identify step did not run)");
  const spec: MountSpec = { fileSystemId: config.fileSystemId!, region: ctx.identity.region, mountPoint: config.sharedDir };
  const targets = await (await ctx.aws()).mountTargets(spec.fileSystemId);
  const target = targets.find((candidate) => candidate.zone === ctx.identity!.zone) ?? null;
  return { mode: "aws", spec, mountHelper: findMountHelper(), zone: ctx.identity.zone, target, mount: observeMount(spec.mountPoint, expectedMount(spec, target)), fstab: readText(config.fstab) };
}

function probe(name: string, ctx: Context): Probe | undefined {
  const [kind, ...rest] = name.split(":");
  if (kind === "efs-mount-target") {
    const [fileSystemId, zone] = rest;
    return async () => {
      const target = (await (await ctx.aws()).mountTargets(fileSystemId!)).find((candidate) => candidate.zone === zone);
      if (!target) return { state: "failed", detail: `no mount target of ${fileSystemId} in ${zone}` };
      if (target.state === "available") return { state: "done" };
      if (target.state === "creating" || target.state === "updating") return { state: "pending", detail: `mount target in ${zone} is ${target.state}` };
      return { state: "failed", detail: `mount target in ${zone} is ${target.state}` };
    };
  }
  if (kind === "mounted") {
    return async () => {
      const seen = await observeMountStep(ctx);
      if (seen.mode === "local" || seen.mount.state === "mounted") return { state: "done" };
      const detail = seen.mount.state === "other" ? `${seen.spec.mountPoint} is a mount of ${describeEntry(seen.mount.entry)}` : seen.mount.state === "plain" ? seen.mount.detail : `${seen.spec.mountPoint} does not exist`;
      return { state: "failed", detail };
    };
  }
  return undefined;
}

export const mount: Step<MountSeen> = { name: "mount", observe: observeMountStep, plan: planMount, probe };

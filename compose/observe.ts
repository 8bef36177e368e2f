// Reads the world the plans start from — files, containers, images — and changes nothing.
import fs from "node:fs/promises";
import { stripVTControlCharacters } from "node:util";
import { ComposeError, configError, lastLine } from "./errors.ts";
import type { RunOutcome } from "./executor.ts";
import { imageRefString, type ImageRef, type StackModel } from "./model.ts";
import { FINGERPRINT_LABEL } from "./render.ts";
import { primaryContainer } from "./swap.ts";
import { rollbackTarget, type LocalImage, type Observed, type ServiceStatus } from "./plan.ts";
import { parseState, recordedProject, type DeployState, type StatePaths } from "./state.ts";

export type Run = (argv: string[], options?: { timeoutMs?: number }) => Promise<RunOutcome>;

export interface ObserveContext {
  run: Run;
  docker: string;
  paths: StatePaths;
}

export async function readOrNull(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw configError(`read ${file}`, (error as Error).message, "make it a readable file, or move it aside");
  }
}

async function docker(ctx: ObserveContext, args: string[]): Promise<string> {
  const outcome = await ctx.run([ctx.docker, ...args], { timeoutMs: 30_000 });
  if (outcome.failure === null && outcome.exitCode === 0) return outcome.stdout;
  const cause = outcome.failure ?? lastLine(outcome.stderr);
  const engineDown = /Cannot connect to the Docker daemon|Is the docker daemon running|connect: no such file/.test(outcome.stderr);
  throw new ComposeError({
    what: engineDown ? "Docker Engine not reachable" : `${ctx.docker} ${args.slice(0, 2).join(" ")} failed`,
    cause,
    next: outcome.failure?.startsWith("ENOENT")
      ? "install Docker Engine (Amazon Linux 2023: dnf install docker) and put docker on PATH"
      : engineDown
        ? "start it (systemctl start docker) and re-run"
        : "re-run; if it persists, check `journalctl -u docker`",
  });
}

interface InspectedContainer {
  Id: string;
  Name: string;
  Image: string;
  RestartCount: number;
  Created: string;
  Config: { Image: string; Labels: Record<string, string> | null };
  State: { Status: string; ExitCode: number; StartedAt: string; Health?: { Status: string; Log?: { Output: string; ExitCode: number }[] } };
}

/** Pure: docker inspect output (a JSON array) and each image's RepoDigests to ServiceStatus values. */
export function toServiceStatuses(inspected: InspectedContainer[], repoDigests: Map<string, string[]>): ServiceStatus[] {
  return inspected.map((c) => {
    const log = c.State.Health?.Log ?? [];
    return {
      service: c.Config.Labels?.["com.docker.compose.service"] ?? "",
      container: c.Name.replace(/^\//, ""),
      id: c.Id,
      state: c.State.Status,
      health: c.State.Health?.Status ?? "none",
      image: c.Config.Image,
      imageId: c.Image,
      repoDigests: repoDigests.get(c.Image) ?? [],
      exitCode: c.State.ExitCode,
      restartCount: c.RestartCount,
      startedAt: c.State.StartedAt,
      createdAt: c.Created,
      fingerprint: c.Config.Labels?.[FINGERPRINT_LABEL] ?? null,
      lastHealthOutput: stripVTControlCharacters(log.at(-1)?.Output ?? "").trim() || null,
    };
  });
}

/** The containers of a Compose project, found by the labels Compose puts on them. */
export async function projectServices(ctx: ObserveContext, project: string): Promise<ServiceStatus[]> {
  const ids = (await docker(ctx, ["ps", "--all", "--no-trunc", "--quiet", "--filter", `label=com.docker.compose.project=${project}`])).split("\n").filter(Boolean);
  if (ids.length === 0) return [];
  const inspected = JSON.parse(await docker(ctx, ["inspect", ...ids])) as InspectedContainer[];
  const imageIds = [...new Set(inspected.map((c) => c.Image))];
  const images = JSON.parse(await docker(ctx, ["image", "inspect", ...imageIds]).catch(() => "[]")) as { Id: string; RepoDigests: string[] | null }[];
  const digests = new Map(images.map((image) => [image.Id, image.RepoDigests ?? []]));
  const statuses = toServiceStatuses(inspected, digests);
  for (const [i, container] of inspected.entries()) {
    const status = statuses[i];
    if (status && (container.RestartCount > 0 || container.State.Status === "restarting")) status.exitCode = (await lastExitCode(ctx, container)) ?? status.exitCode;
  }
  return statuses.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
}

/**
 * The exit code of a container's last exit, from the engine's `die` events: `docker inspect` shows 0 for a restarted
 * container while its new process runs, whatever the previous one exited with.
 */
async function lastExitCode(ctx: ObserveContext, container: InspectedContainer): Promise<number | null> {
  const until = String(Math.ceil(Date.now() / 1000) + 1);
  const out = await docker(ctx, ["events", "--since", container.Created, "--until", until, "--filter", `container=${container.Id}`, "--filter", "event=die", "--format", "{{index .Actor.Attributes \"exitCode\"}}"]).catch(() => "");
  const last = out.split("\n").filter((line) => /^\d+$/.test(line.trim())).at(-1);
  return last === undefined ? null : Number(last);
}

/** Pure: `docker image ls --digests --no-trunc --format '{{json .}}'` lines to the images that carry a registry digest. */
export function parseImageList(stdout: string): LocalImage[] {
  return stdout
    .split("\n")
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as { Repository: string; Digest: string; ID: string })
    .filter((row) => row.Digest.startsWith("sha256:"))
    .map((row) => ({ repository: row.Repository, digest: row.Digest, id: row.ID }));
}

async function imagesInUse(ctx: ObserveContext): Promise<string[]> {
  const ids = (await docker(ctx, ["ps", "--all", "--no-trunc", "--quiet"])).split("\n").filter(Boolean);
  if (ids.length === 0) return [];
  // Every container on the host: one removed between the list and the inspect (another project's update retiring its old
  // version, another stack's down) is gone, so its image is no longer in use; docker inspect prints the others and exits 1.
  const inspected = await ctx.run([ctx.docker, "inspect", "--format", "{{.Image}}", ...ids], { timeoutMs: 30_000 });
  const answered = inspected.failure === null && (inspected.exitCode === 0 || inspected.stderr.split("\n").filter(Boolean).every((line) => /No such object/i.test(line)));
  // anything else (the engine down, …) is reported as every other observation is, by the same inspect
  const stdout = answered ? inspected.stdout : await docker(ctx, ["inspect", "--format", "{{.Image}}", ...ids]);
  return [...new Set(stdout.split("\n").filter(Boolean))];
}

async function missingDirs(dirs: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const dir of dirs) {
    const stat = await fs.stat(dir).catch(() => null);
    if (!stat?.isDirectory()) missing.push(dir);
  }
  return missing;
}

/** The state directory's own files, read and validated first: a state file that does not fit stops the run here. */
export async function observeFiles(paths: StatePaths): Promise<{ composeFile: string | null; state: DeployState | null }> {
  const state = parseState(await readOrNull(paths.stateFile), paths.stateFile);
  return { composeFile: await readOrNull(paths.composeFile), state };
}

export async function observe(model: StackModel, ctx: ObserveContext): Promise<Observed> {
  const files = await observeFiles(ctx.paths);
  const services = await projectServices(ctx, model.project);
  const present = async (image: ImageRef) => (await ctx.run([ctx.docker, "image", "inspect", "--format", "{{.Id}}", `${image.repository}@${image.digest}`], { timeoutMs: 30_000 })).exitCode === 0;
  const service = primaryContainer(services, model.service);
  const target = rollbackTarget(files.state, service);
  return {
    ...files,
    missingRollbackImage: target && !(await present(target.image)) ? imageRefString(target.image) : null,
    service,
    containers: services,
    imagePresent: await present(model.image),
    missingDirs: await missingDirs([model.storage.database, model.storage.uploads]),
    dockerConfig: await readOrNull(`${ctx.paths.dockerConfigDir}/config.json`),
    localImages: parseImageList(await docker(ctx, ["image", "ls", "--digests", "--no-trunc", "--format", "{{json .}}"])),
    imagesInUse: await imagesInUse(ctx),
  };
}

/** The project a status or down acts on: the one given, checked against the directory's record, else the recorded one. */
export async function resolveProject(paths: StatePaths, given: string | undefined): Promise<string> {
  const files = await observeFiles(paths);
  const recorded = recordedProject(files.state, files.composeFile);
  if (given !== undefined && recorded && recorded.project !== given) {
    throw configError(`project "${given}"`, `the state directory ${paths.stateDir} belongs to project "${recorded.project}" (${recorded.source})`, `omit --project to act on "${recorded.project}", or pass the --state-dir of "${given}"`);
  }
  if (given !== undefined) return given;
  if (recorded) return recorded.project;
  const exists = await fs.stat(paths.stateDir).then((stat) => stat.isDirectory(), () => false);
  throw configError(
    "project",
    exists ? `the state directory ${paths.stateDir} records no project (it holds neither state.json nor compose.yaml)` : `the state directory ${paths.stateDir} does not exist`,
    "pass --project NAME (or --stack FILE), or the --state-dir the stack was deployed with",
  );
}

// Reads the world the plans start from — files, containers, images — and changes nothing.
import fs from "node:fs/promises";
import { ComposeError, lastLine } from "./errors.ts";
import type { RunOutcome } from "./executor.ts";
import type { StackModel } from "./model.ts";
import type { LocalImage, Observed, ServiceStatus } from "./plan.ts";
import { parseState, type StatePaths } from "./state.ts";

export type Run = (argv: string[], options?: { timeoutMs?: number }) => Promise<RunOutcome>;

export interface ObserveContext {
  run: Run;
  docker: string;
  paths: StatePaths;
}

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
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
      lastHealthOutput: log.at(-1)?.Output.trim() || null,
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
  return toServiceStatuses(inspected, digests).sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
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
  return [...new Set((await docker(ctx, ["inspect", "--format", "{{.Image}}", ...ids])).split("\n").filter(Boolean))];
}

async function missingDirs(dirs: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const dir of dirs) {
    const stat = await fs.stat(dir).catch(() => null);
    if (!stat?.isDirectory()) missing.push(dir);
  }
  return missing;
}

export async function observe(model: StackModel, ctx: ObserveContext): Promise<Observed> {
  const services = await projectServices(ctx, model.project);
  const present = await ctx.run([ctx.docker, "image", "inspect", "--format", "{{.Id}}", `${model.image.repository}@${model.image.digest}`], { timeoutMs: 30_000 });
  return {
    composeFile: await readOrNull(ctx.paths.composeFile),
    state: parseState(await readOrNull(ctx.paths.stateFile), ctx.paths.stateFile),
    service: services.find((s) => s.service === model.service) ?? null,
    imagePresent: present.exitCode === 0,
    missingDirs: await missingDirs([model.storage.database, model.storage.uploads]),
    dockerConfig: await readOrNull(`${ctx.paths.dockerConfigDir}/config.json`),
    localImages: parseImageList(await docker(ctx, ["image", "ls", "--digests", "--no-trunc", "--format", "{{json .}}", model.image.repository])),
    imagesInUse: await imagesInUse(ctx),
  };
}

// Step 5a, image: the image to run. On AWS (or with --image) the configured digest (start pulls it); locally, built from the Dockerfile and pinned by digest, rebuilt only when its inputs change.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { AgentAction } from "../../compose/actions.ts";
import { runCommand } from "../../compose/executor.ts";
import type { Config } from "../config.ts";
import { StepError } from "../errors.ts";
import { readLocalImage, type LocalImage } from "../stack.ts";
import type { Step } from "../step.ts";
import { stateFile } from "../state-files.ts";

/** What the Dockerfile's build context holds (its .dockerignore allow-list), plus the Dockerfile itself. */
export const BUILD_INPUTS = ["Dockerfile", ".dockerignore", "package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "scripts/copy-assets.ts", "scripts/require-node.mjs", "server", "compose", "bootstrap"];
export const LOCAL_REPOSITORY = "codedetect-local";

export interface ImageSeen {
  mode: Config["mode"];
  configured: string | null;
  /** Local build: the build context and the hash of its inputs (null: no Dockerfile there). */
  context: { dir: string; hash: string } | null;
  recorded: LocalImage | null;
  /** The recorded image is in the local image store. */
  recordedPresent: boolean;
}

/** The repository root the agent runs from (npm run bootstrap), where the Dockerfile is. */
export function buildContext(): string {
  const fromSource = path.resolve(import.meta.dirname, "../..");
  return fs.existsSync(path.join(fromSource, "Dockerfile")) ? fromSource : process.cwd();
}

/** sha256 over every build input's relative path and content, in a fixed order: the same sources, the same hash. */
export function hashBuildInputs(dir: string): string {
  const hash = createHash("sha256");
  const visit = (relative: string) => {
    const full = path.join(dir, relative);
    const stat = fs.statSync(full, { throwIfNoEntry: false });
    if (!stat) return;
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(full).sort()) if (name !== "node_modules" && name !== "__pycache__" && !name.endsWith(".pyc")) visit(path.join(relative, name));
      return;
    }
    hash.update(`${relative}\0${stat.size}\0`).update(fs.readFileSync(full));
  };
  for (const input of BUILD_INPUTS) visit(input);
  return hash.digest("hex");
}

export function planImage(seen: ImageSeen, config: Config): AgentAction[] {
  if (seen.configured) return [];
  if (seen.mode === "aws") {
    throw new StepError({ step: "image", action: "choose the image", cause: "no image is configured", next: 'set image ("repository[:tag]@sha256:…") in the config file, a codedetect:image tag or CODEDETECT_IMAGE' });
  }
  if (!seen.context) {
    throw new StepError({ step: "image", action: "build the image", cause: `no Dockerfile in ${process.cwd()}`, next: "run from the repository (npm run bootstrap -- --local), or pass --image repository[:tag]@sha256:…" });
  }
  if (seen.recorded && seen.recorded.contextHash === seen.context.hash && seen.recordedPresent) return [];
  const tag = `${LOCAL_REPOSITORY}:${seen.context.hash.slice(0, 12)}`;
  return [
    {
      kind: "run",
      argv: ["docker", "build", "--network", "host", "--quiet", "--build-arg", `VERSION=local-${seen.context.hash.slice(0, 12)}`, "-t", tag, seen.context.dir],
      timeoutMs: 1_800_000,
      purpose: `build ${tag} from ${path.join(seen.context.dir, "Dockerfile")}`,
      next: "run the same `docker build` by hand to see the whole output, fix it, and re-run",
    },
    { kind: "pin-image", image: tag, repository: LOCAL_REPOSITORY, record: stateFile(config.stateDir, "localImage"), context: seen.context.hash },
  ];
}

export const imageStep: Step<ImageSeen> = {
  name: "image",
  async observe(ctx) {
    const { config } = ctx;
    if (config.image || config.mode === "aws") return { mode: config.mode, configured: config.image, context: null, recorded: null, recordedPresent: false };
    const dir = buildContext();
    const context = fs.existsSync(path.join(dir, "Dockerfile")) ? { dir, hash: hashBuildInputs(dir) } : null;
    const recorded = readLocalImage(config.stateDir);
    const present = recorded ? (await runCommand(["docker", "image", "inspect", "--format", "{{.Id}}", recorded.image.replace(/:[^:/@]+@/, "@")], { timeoutMs: 30_000 })).exitCode === 0 : false;
    return { mode: config.mode, configured: null, context, recorded, recordedPresent: present };
  },
  plan: planImage,
};

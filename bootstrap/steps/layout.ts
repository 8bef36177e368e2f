// Step 3, layout: the shared tree codedetect/{database,uploads}, owned by the container's user (uid 1000), modes no wider than needed.
import fs from "node:fs";
import path from "node:path";
import type { AgentAction } from "../../compose/actions.ts";
import type { Config } from "../config.ts";
import { StepError } from "../errors.ts";
import type { Step } from "../step.ts";

export interface DirState {
  path: string;
  state: "missing" | "directory" | "not-a-directory";
  mode: number;
  uid: number;
}

export interface LayoutSeen {
  dirs: DirState[];
  /** Whether the agent may give files away (root); else it owns what it creates. */
  canChown: boolean;
}

export function sharedTree(sharedDir: string) {
  const root = path.join(sharedDir, "codedetect");
  return { root, database: path.join(root, "database"), uploads: path.join(root, "uploads") };
}

/** Wanted modes: the tree readable by its owner's group, the data itself by the owner only. */
export function wantedLayout(sharedDir: string): { path: string; mode: number }[] {
  const tree = sharedTree(sharedDir);
  return [
    { path: tree.root, mode: 0o750 },
    { path: tree.database, mode: 0o700 },
    { path: tree.uploads, mode: 0o700 },
  ];
}

export function planLayout(seen: LayoutSeen, config: Config): AgentAction[] {
  const owner = seen.canChown ? config.appUid : undefined;
  const actions: AgentAction[] = [];
  for (const wanted of wantedLayout(config.sharedDir)) {
    const dir = seen.dirs.find((candidate) => candidate.path === wanted.path);
    if (dir?.state === "not-a-directory") {
      throw new StepError({ step: "layout", action: `mkdir ${wanted.path}`, cause: `${wanted.path} exists and is not a directory`, next: "move it aside (it is not CodeDetect's), then re-run" });
    }
    const right = dir?.state === "directory" && (dir.mode & 0o7777) === wanted.mode && (owner === undefined || dir.uid === owner);
    if (!right) actions.push({ kind: "mkdir", path: wanted.path, mode: wanted.mode, ...(owner === undefined ? {} : { owner }) });
  }
  return actions;
}

export const layout: Step<LayoutSeen> = {
  name: "layout",
  async observe(ctx) {
    const dirs = wantedLayout(ctx.config.sharedDir).map((wanted): DirState => {
      try {
        const stat = fs.lstatSync(wanted.path);
        return { path: wanted.path, state: stat.isDirectory() ? "directory" : "not-a-directory", mode: stat.mode & 0o7777, uid: stat.uid };
      } catch {
        return { path: wanted.path, state: "missing", mode: 0, uid: -1 };
      }
    });
    return { dirs, canChown: process.getuid?.() === 0 };
  },
  plan: planLayout,
};

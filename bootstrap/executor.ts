// The agent's one executor: compose's executor for run/write/wait, plus the host actions (mkdir, remove, aws, migrate).
import fs from "node:fs/promises";
import { describeAgentAction, type AgentAction, type HostAction } from "../compose/actions.ts";
import { createExecutor, type Probe } from "../compose/executor.ts";
import type { AwsAdapter } from "./adapters/aws.ts";
import { migrate } from "./migration/migrate.ts";

export interface AgentExecutor {
  /** Performs one action; returns a note worth journaling ("migrated 3 files"), or null. Throws on failure. */
  perform(action: AgentAction, probe?: (name: string) => Probe | undefined): Promise<string | null>;
}

export interface AgentExecutorOptions {
  log?: (line: string) => void;
  aws?: () => Promise<AwsAdapter>;
}

async function performHost(action: HostAction, options: AgentExecutorOptions): Promise<string | null> {
  switch (action.kind) {
    case "mkdir":
      await fs.mkdir(action.path, { recursive: true, mode: action.mode });
      await fs.chmod(action.path, action.mode);
      if (action.owner !== undefined) await fs.chown(action.path, action.owner, action.owner);
      return null;
    case "remove":
      await fs.rm(action.path, { recursive: true, force: true });
      return null;
    case "aws": {
      if (!options.aws) throw new Error(`no AWS adapter to perform ${action.call}`);
      await (await options.aws()).perform(action.call, action.input);
      return null;
    }
    case "migrate":
      return migrate(action, options.log ?? (() => {}));
  }
}

export function createAgentExecutor(options: AgentExecutorOptions = {}): AgentExecutor {
  return {
    async perform(action, probe) {
      if (action.kind === "run" || action.kind === "write" || action.kind === "wait") {
        await createExecutor({ probe, log: options.log }).perform(action);
        return null;
      }
      options.log?.(describeAgentAction(action));
      return performHost(action, options);
    },
  };
}

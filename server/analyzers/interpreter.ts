// Finds the Python interpreter that has pylint, bandit and radon (cheap probe: no tool is imported).
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { PYTHON_FLAGS, WORKER_SCRIPT } from "./worker-protocol.ts";
import type { ToolName } from "./types.ts";

const run = promisify(execFile);
export const DEFAULT_INTERPRETERS = ["/usr/bin/python3", "python3"];
const PROBE_TIMEOUT_MS = 15_000;

export interface InterpreterProbe {
  python: string;
  tools: Record<ToolName, { ok: boolean; version?: string }>;
}

/** What `python` reports about the tools, or null when it cannot be run. */
export async function probeInterpreter(python: string): Promise<InterpreterProbe | null> {
  try {
    const { stdout } = await run(python, [...PYTHON_FLAGS, WORKER_SCRIPT, "--probe"], { timeout: PROBE_TIMEOUT_MS, env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    const probe = JSON.parse(stdout) as { tools: InterpreterProbe["tools"] };
    return { python, tools: probe.tools };
  } catch {
    return null;
  }
}

const hasAllTools = (probe: InterpreterProbe): boolean => Object.values(probe.tools).every((tool) => tool.ok);

/** The first candidate that has all three tools; else the first that runs at all (its workers then say what is missing); else null. */
export async function chooseInterpreter(candidates: readonly string[] = DEFAULT_INTERPRETERS): Promise<string | null> {
  let firstRunnable: string | null = null;
  for (const python of candidates) {
    const probe = await probeInterpreter(python);
    if (!probe) continue;
    if (hasAllTools(probe)) return python;
    firstRunnable ??= python;
  }
  return firstRunnable;
}

// The old server's way, measured beside ours: pylint, bandit and radon started as commands, one after another.
import { execa } from "execa";

export const TOOLS = {
  pylint: (file: string) => ["/usr/bin/pylint", ["--output-format=json", "--persistent=n", file]] as const,
  bandit: (file: string) => ["/usr/bin/bandit", ["-f", "json", "-q", file]] as const,
  radon: (file: string) => ["/usr/bin/radon", ["cc", "-j", file]] as const,
};

export type ToolName = keyof typeof TOOLS;

export async function runTool(tool: ToolName, file: string): Promise<void> {
  const [command, args] = TOOLS[tool](file);
  await execa(command, [...args], { reject: false, timeout: 30_000 });
}

/** One analysis as the old server did it: three commands in sequence. */
export async function sequentialAnalysis(file: string): Promise<void> {
  for (const tool of Object.keys(TOOLS) as ToolName[]) await runTool(tool, file);
}

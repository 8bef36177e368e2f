// One throw-away stack per hostile case on the real engine: its own project (cdrun-…), state directory, lock directory, EFS stand-in and port.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { defineStack, type StackInput, type StackModel } from "../../compose/model.ts";
import { createRunner, type Runner, type RunnerOptions } from "../../compose/runner.ts";
import { docker, efsStandIn, freePort, REPO_ROOT } from "./docker-harness.ts";

export interface TestStack {
  project: string;
  stateDir: string;
  stateFile: string;
  lockDir: string;
  efsRoot: string;
  lines: string[];
  input(image: string, extra?: Partial<StackInput>): StackInput;
  model(image: string, extra?: Partial<StackInput>): StackModel;
  runner(options?: Partial<RunnerOptions>): Runner;
  /** The CLI as an operator runs it, with this stack's state and lock directories. */
  cli(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  stackFile(image: string, extra?: Partial<StackInput>): string;
  /** What the service answers now: its version, or null when nothing answers. */
  serving(): Promise<string | null>;
  container(): Promise<{ id: string; health: string; state: string } | null>;
  remove(): Promise<void>;
}

export async function testStack(name: string): Promise<TestStack> {
  const project = `cdrun${process.pid}${name}`;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cdrun-"));
  const stateDir = path.join(root, "state");
  const lockDir = path.join(root, "lock");
  const efsRoot = efsStandIn();
  const port = await freePort();
  const lines: string[] = [];
  let files = 0;
  const input = (image: string, extra: Partial<StackInput> = {}): StackInput => ({
    image,
    efsRoot,
    project,
    bindAddress: "127.0.0.1",
    hostPort: port,
    drainSeconds: 1,
    health: { intervalSeconds: 1, timeoutSeconds: 2, retries: 10, startPeriodSeconds: 0 },
    ...extra,
  });
  const runner = (options: Partial<RunnerOptions> = {}) =>
    createRunner({ stateDir, lockDir, log: (line) => lines.push(line), pullRetry: { attempts: 2, minDelayMs: 200, maxDelayMs: 500, deadlineMs: 5000 }, pullTimeoutMs: 60_000, ...options });
  const stack: TestStack = {
    project,
    stateDir,
    stateFile: path.join(stateDir, "state.json"),
    lockDir,
    efsRoot,
    lines,
    input,
    model: (image, extra) => defineStack(input(image, extra)),
    runner,
    async cli(args) {
      const result = await execa(process.execPath, [path.join(REPO_ROOT, "compose/cli.ts"), ...args, ...(args.includes("--state-dir") ? [] : ["--state-dir", stateDir])], { reject: false, env: { COMPOSE_LOCK_DIR: lockDir } });
      return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
    },
    stackFile(image, extra) {
      files += 1;
      const file = path.join(root, `stack-${files}.json`);
      fs.writeFileSync(file, JSON.stringify(input(image, extra)));
      return file;
    },
    async serving() {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/`);
        return response.ok ? ((await response.json()) as { version: string }).version : null;
      } catch {
        return null;
      }
    },
    async container() {
      const ids = (await docker(["ps", "--all", "--quiet", "--no-trunc", "--filter", `label=com.docker.compose.project=${project}`, "--filter", "label=com.docker.compose.service=app"])).split("\n").filter(Boolean);
      if (ids.length !== 1) return null;
      const [id, state, health] = (await docker(["inspect", "--format", "{{.Id}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", ids[0] ?? ""])).split(" ");
      return { id: id ?? "", state: state ?? "", health: health ?? "" };
    },
    async remove() {
      await execa("docker", ["compose", "--project-name", project, "down", "--remove-orphans", "--timeout", "5"], { reject: false });
      fs.rmSync(root, { recursive: true, force: true });
      fs.rmSync(efsRoot, { recursive: true, force: true });
    },
  };
  return stack;
}

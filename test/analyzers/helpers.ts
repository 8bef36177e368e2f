// Shared by the analyzer tests: fixtures, the tools' own command lines for comparison, and a look at the worker processes.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { createAnalyzerPool, type AnalyzerPool, type AnalyzerPoolOptions, type ToolOutputs } from "../../server/analyzers/index.ts";

const exec = promisify(execFile);
export const PYTHON = "/usr/bin/python3"; // Debian's, where `apt-get install pylint bandit radon` puts the tools
const FIXTURES = new URL("../fixtures/python/", import.meta.url);

export const fixture = (name: string): Promise<string> => readFile(new URL(name, FIXTURES), "utf8");

export function startPool(options: Partial<AnalyzerPoolOptions> = {}): Promise<AnalyzerPool> {
  return createAnalyzerPool({ python: PYTHON, workers: 1, queueLimit: 4, timeoutMs: 60_000, ...options });
}

/**
 * What a user gets running the three command lines on `code` saved as `name`, alone in an empty directory named
 * "upload" (the name the server gives the directory of an upload: pylint names an `__init__.py` after it).
 */
export async function runCommandLines(code: string | Uint8Array, name: string): Promise<ToolOutputs> {
  const parent = await mkdtemp(join(tmpdir(), "codedetect-cli-"));
  const dir = join(parent, "upload");
  await mkdir(dir);
  try {
    await writeFile(join(dir, name), code);
    const cli = async (args: string[]) => {
      // pylint and bandit exit non-zero when they report something: the output is what counts
      const result = await exec(PYTHON, ["-m", ...args, name], { cwd: dir, maxBuffer: 64 << 20 }).catch((error: { stdout: string }) => error);
      return JSON.parse(result.stdout) as unknown;
    };
    const [pylint, bandit, radon] = await Promise.all([
      cli(["pylint", "--output-format=json", "--persistent=n"]),
      cli(["bandit", "-f", "json"]),
      cli(["radon", "cc", "-j"]),
    ]);
    // bandit 1.7+ prints a file named on its command line as "./NAME"; the pool reports the client's NAME
    const banditResults = (bandit as { results: ToolOutputs["bandit"] }).results.map((result) =>
      result.filename === `./${name}` ? { ...result, filename: name } : result,
    );
    return {
      pylint: pylint as ToolOutputs["pylint"],
      bandit: banditResults,
      radon: ((radon as Record<string, ToolOutputs["radon"]>)[name] ?? []) as ToolOutputs["radon"],
    };
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
}

export const symbols = (outputs: ToolOutputs): string[] => outputs.pylint.map((message) => message.symbol);

export interface ProcessInfo {
  pid: number;
  ppid: number;
  state: string;
  cmdline: string;
}

async function processInfo(pid: number): Promise<ProcessInfo | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cmdline = (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").join(" ");
    return { pid, state: fields[0] ?? "?", ppid: Number(fields[1]), cmdline };
  } catch {
    return null; // gone
  }
}

/** The analyzer worker processes `parent` started (children running worker.py); default: this test process's. */
export async function workerProcesses(parent = process.pid): Promise<ProcessInfo[]> {
  const pids = (await readdir("/proc")).filter((name) => /^\d+$/.test(name)).map(Number);
  const infos = await Promise.all(pids.map(processInfo));
  return infos.filter((info): info is ProcessInfo => !!info && info.ppid === parent && info.cmdline.includes("worker.py --tool"));
}

/** Whether the process exists at all (a zombie counts: it was not reaped). */
export async function processExists(pid: number): Promise<boolean> {
  return (await processInfo(pid)) !== null;
}

/** Whether the process exists and has not exited (a zombie has exited: it only awaits its parent's reaping). */
export async function processRunning(pid: number): Promise<boolean> {
  const info = await processInfo(pid);
  return info !== null && info.state !== "Z";
}

export async function waitFor(condition: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The largest resident memory seen in any of the server's analyzer processes while `during` runs (sampled). */
export async function peakWorkerRssMb<T>(serverPid: number, during: Promise<T>): Promise<{ result: T; peakMb: number }> {
  let peakMb = 0;
  let done = false;
  const sampling = (async () => {
    while (!done) {
      for (const worker of await workerProcesses(serverPid)) {
        try {
          const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${worker.pid}/status`, "utf8"));
          if (rss) peakMb = Math.max(peakMb, Number(rss[1]) / 1024);
        } catch {
          // exited between the listing and the read
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const result = await during.finally(() => (done = true));
  await sampling;
  return { result, peakMb };
}

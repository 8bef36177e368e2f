// `npm run bench -- --only in-place-update`: one update v1 → v2 on one host under load, the old stop-then-start (main at 1988a47, from a git worktree) against the in-place update, in one run.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { appVersions, efsStandIn, freePort, REGISTRY, REPO_ROOT } from "../../test/compose/docker-harness.ts";
import { writeSection } from "./report.ts";
import { failedAnswers, startUpdateLoad } from "./update-load.ts";

/** The commit before the in-place update: its runner stops the old container, then starts the new one. */
const BEFORE = "1988a47";
const CLIENTS = 4;

interface Figures {
  gapSeconds: number;
  failed: number;
  requests: number;
  servingSeconds: number;
  overlapSeconds: number;
  upSeconds: number;
}

/** One update under load with the given compose CLI; figures from the samples taken while `up` ran. */
async function update(cli: string, refs: { v1: string; v2: string }, label: string): Promise<Figures> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `bench-inplace-${label}-`));
  const efsRoot = efsStandIn();
  const port = await freePort();
  const project = `cdbench${label}${process.pid}`;
  const stack = (image: string) => {
    const file = path.join(root, `stack-${image.includes(":v1@") ? "v1" : "v2"}.json`);
    fs.writeFileSync(file, JSON.stringify({ image, efsRoot, project, bindAddress: "127.0.0.1", hostPort: port, drainSeconds: 2, health: { intervalSeconds: 1, timeoutSeconds: 10, retries: 3, startPeriodSeconds: 60 }, environment: { LOG_LEVEL: "warn", ANALYZER_WORKERS: "1", CLIENT_MAX_ANALYSES: "64" } }));
    return file;
  };
  const env = { ...process.env, COMPOSE_LOCK_DIR: path.join(root, "lock") };
  const up = async (image: string) => {
    const result = await execa(process.execPath, [cli, "up", "--stack", stack(image), "--state-dir", path.join(root, "state")], { reject: false, env });
    if (result.exitCode !== 0) throw new Error(`${label}: up ${image} failed: ${result.stderr.split("\n").slice(-3).join(" | ")}`);
  };
  try {
    await up(refs.v1);
    const running = startUpdateLoad(`http://127.0.0.1:${port}`, CLIENTS);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const started = performance.now();
    await up(refs.v2);
    const ended = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const samples = (await running.stop()).answers.filter((s) => s.at >= started);
    const during = samples.filter((s) => s.at <= ended + 2000);
    const okTimes = [started, ...during.filter((s) => s.status === 200).map((s) => s.at)].sort((a, b) => a - b);
    const gap = okTimes.reduce((max, at, i) => Math.max(max, i === 0 ? 0 : at - (okTimes[i - 1] ?? at)), 0);
    const firstNew = samples.find((s) => s.version === "2.0.0-test")?.at ?? ended;
    const lastOld = samples.filter((s) => s.version === "1.0.0-test").at(-1)?.at ?? started;
    return {
      gapSeconds: gap / 1000,
      failed: failedAnswers(during).length,
      requests: during.length,
      servingSeconds: (firstNew - started) / 1000,
      overlapSeconds: Math.max(0, lastOld - firstNew) / 1000,
      upSeconds: (ended - started) / 1000,
    };
  } finally {
    await execa("docker", ["compose", "--project-name", project, "down", "--remove-orphans", "--timeout", "5"], { reject: false });
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(efsRoot, { recursive: true, force: true });
  }
}

export async function inPlaceUpdateBench(options: { write: boolean }): Promise<void> {
  const worktree = fs.mkdtempSync(path.join(os.tmpdir(), "bench-before-"));
  execFileSync("git", ["-C", REPO_ROOT, "worktree", "add", "--detach", worktree, BEFORE], { stdio: "ignore" });
  try {
    fs.symlinkSync(path.join(REPO_ROOT, "node_modules"), path.join(worktree, "node_modules"));
    // one image for both runs (this tree's server: REUSE_PORT is off unless the new stack model sets it)
    const { refs } = await appVersions(`${REGISTRY}/codedetect-bench-inplace`);
    const before = await update(path.join(worktree, "compose/cli.ts"), refs, "before");
    const after = await update(path.join(REPO_ROOT, "compose/cli.ts"), refs, "after");
    const row = (name: string, f: Figures) =>
      `| ${name} | ${f.gapSeconds.toFixed(2)} s | ${f.failed} of ${f.requests} | ${f.servingSeconds.toFixed(1)} s | ${f.overlapSeconds.toFixed(1)} s | ${f.upSeconds.toFixed(1)} s |`;
    const lines = [
      `${CLIENTS} clients in a loop (health, stats, a fresh upload), one update v1 → v2 of the real image on one host (\`npm run compose -- up\`), ${os.cpus().length} cores shared with other work.`,
      "",
      "| path | longest window without a successful request | failed requests during `up` | `up` start → new version answers | both versions answer | `up` duration |",
      "|---|---|---|---|---|---|",
      row(`before: stop, then start (${BEFORE})`, before),
      row("after: in-place update", after),
      "",
      `Ratio of the window without a successful request, before / after: ${(before.gapSeconds / Math.max(after.gapSeconds, 0.001)).toFixed(1)}×.`,
      "",
      "Reading it: *failed requests* counts every attempt, and a client retries at once, so the stop-then-start figure is the count of refused connections while nothing listened, not of users; the window is what matters. Both windows include the new version's start (the analyzers warm up in it: tens of seconds on a busy shared machine, a few on a quiet one). After, the longest window is the ordinary spacing of answers while every client waits for an analysis; *both versions answer* is from the new version's first health answer to the old one's last (the handover, SIGUSR2). A health check answered \"draining\" by the old version would not count as failed.",
    ];
    for (const line of lines) process.stdout.write(`${line}\n`);
    if (options.write) writeSection(path.join(REPO_ROOT, "BENCHMARKS.md"), "in-place-update", "In-place update on one host: stop-then-start against start-beside", "npm run bench -- --only in-place-update", lines);
  } finally {
    execFileSync("git", ["-C", REPO_ROOT, "worktree", "remove", "--force", worktree], { stdio: "ignore" });
  }
}

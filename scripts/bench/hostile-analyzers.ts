// Bench scenario: the analyzers under hostile load (issue 14), before (a worktree of the baseline commit) and after (this checkout), in one run.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { peakWorkerRssMb } from "../../test/analyzers/helpers.ts";
import { REAL_WORLD, stdlibSource } from "../../test/helpers/python-sources.ts";
import { uploadFrom, type RawAnswer } from "../../test/helpers/raw-client.ts";
import { ROOT, startServer, type RunningServer, type StartOptions } from "../../test/helpers/server-process.ts";
import { median, ms } from "./measure.ts";

/** The commit before issue 14's analyzer work: the "before" column. */
export const BASELINE_COMMIT = "1988a47";

const TRIVIAL = '"""Trivial."""\nVALUE = 1\n';
const hugeLiteral = `"""Huge."""\nDATA = [${"1, ".repeat(Math.floor((4 << 20) / 3))}]\n`;

interface Variant {
  name: "before" | "after";
  root: string;
}

/** A worktree of the baseline commit (its node_modules borrowed from this checkout), removed afterwards. */
function baselineWorktree(): { root: string; remove(): void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "codedetect-bench-baseline-"));
  execFileSync("git", ["-C", ROOT, "worktree", "add", "--detach", "--force", root, BASELINE_COMMIT], { stdio: "ignore" });
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(root, "node_modules"));
  return { root, remove: () => execFileSync("git", ["-C", ROOT, "worktree", "remove", "--force", root], { stdio: "ignore" }) };
}

async function withServer<T>(variant: Variant, options: StartOptions, run: (server: RunningServer) => Promise<T>): Promise<T> {
  const server = await startServer({ ...options, root: variant.root, timeoutMs: 120_000 });
  try {
    return await run(server);
  } finally {
    await server.stop();
  }
}

/** An upload whose connection failure (a server out of descriptors resets connections) is an answer too, not a crash. */
const tryUpload = (...args: Parameters<typeof uploadFrom>): Promise<RawAnswer> =>
  uploadFrom(...args).catch((error: NodeJS.ErrnoException) => ({ status: 0, headers: {}, body: { error: `connection failed (${error.code ?? error.message})` } }));

const outcome = (answer: RawAnswer): string => `${answer.status} ${String(answer.body?.error ?? "analysed").slice(0, 90)}`;

/** The analyzer memory peak on a 4 MB list literal (one lane; the time limit bounds the baseline's run). */
async function hugeLiteralPeak(variant: Variant): Promise<{ peakMb: number; answer: string; seconds: number }> {
  return withServer(variant, { env: { ANALYZER_WORKERS: "1", ANALYZER_TIMEOUT_SECONDS: "30" } }, async (server) => {
    const started = performance.now();
    const { result, peakMb } = await peakWorkerRssMb(server.child.pid!, uploadFrom(server.url, "huge.py", hugeLiteral));
    return { peakMb, answer: outcome(result), seconds: (performance.now() - started) / 1000 };
  });
}

/** pylint's CPU time on a file, from the server's "analysis finished" log line. */
function pylintCpuMs(server: RunningServer): number {
  const line = server.lines.filter((l) => l.includes('"msg":"analysis finished"')).at(-1);
  return line ? (JSON.parse(line) as { tools: { pylint: { cpuMs: number } } }).tools.pylint.cpuMs : NaN;
}

/**
 * An innocent file (the large one) whose pylint needs c of CPU, under a time limit of 2c, on a server pinned to one
 * processor while another client keeps two costly files running in the other lanes: it gets about a third of the
 * processor. Then the same file again on the idle server.
 */
async function innocentUnderContention(variant: Variant, cpuMs: number): Promise<{ first: string; again: string }> {
  const limitSeconds = Math.max(1, Math.ceil((2 * cpuMs) / 1000));
  const wallSeconds = Math.min(50, Math.ceil((5 * cpuMs) / 1000));
  const env = { ANALYZER_WORKERS: "3", ANALYZER_TIMEOUT_SECONDS: String(limitSeconds), ANALYZER_MAX_WAIT_SECONDS: String(55 - wallSeconds), CLIENT_MAX_ANALYSES: "4" };
  return withServer(variant, { prefix: ["taskset", "-c", "0"], env }, async (server) => {
    const innocent = `${stdlibSource(REAL_WORLD.large)}\n# innocent ${variant.name}\n`;
    const costly = stdlibSource(REAL_WORLD.large);
    let contending = true;
    let nonce = 0;
    const neighbours = Array.from({ length: 2 }, async () => {
      while (contending) await tryUpload(server.url, "heavy.py", `${costly}\n# heavy ${nonce++}\n`, { from: "127.0.0.21" });
    });
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // both neighbours are running
    const first = await uploadFrom(server.url, "innocent.py", innocent, { from: "127.0.0.22" });
    contending = false;
    await Promise.all(neighbours);
    const again = await uploadFrom(server.url, "innocent.py", innocent, { from: "127.0.0.22" });
    return { first: outcome(first), again: outcome(again) };
  });
}

/** A trivial upload's wait while three addresses keep sending near-duplicates (one comment apart) of a file over the time limit. */
async function trivialWaitDuringFlood(variant: Variant): Promise<{ medianMs: number; maxMs: number; flood: string }> {
  return withServer(variant, { env: { ANALYZER_WORKERS: "2", ANALYZER_TIMEOUT_SECONDS: "2" } }, async (server) => {
    const costly = stdlibSource(REAL_WORLD.large);
    let flooding = true;
    let nonce = 0;
    const answers: Record<string, number> = {};
    const flood = ["127.0.0.31", "127.0.0.32", "127.0.0.33"].flatMap((from) =>
      Array.from({ length: 2 }, async () => {
        while (flooding) {
          const answer = await tryUpload(server.url, "costly.py", `${costly}\n# near-duplicate ${nonce++}\n`, { from });
          answers[answer.status] = (answers[answer.status] ?? 0) + 1;
          if (answer.status !== 200) await new Promise((resolve) => setTimeout(resolve, 100)); // retries at once
        }
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000)); // the flood holds the lanes
    const waits: number[] = [];
    for (let round = 0; round < 4; round++) {
      const started = performance.now();
      const answer = await uploadFrom(server.url, "trivial.py", `${TRIVIAL}# ${variant.name} ${round}\n`, { from: "127.0.0.40" });
      if (answer.status !== 200) throw new Error(`the trivial upload answered ${outcome(answer)}`);
      waits.push(performance.now() - started);
    }
    flooding = false;
    await Promise.all(flood);
    return { medianMs: median(waits), maxMs: Math.max(...waits), flood: Object.entries(answers).map(([status, count]) => `${count}× ${status}`).join(", ") };
  });
}

export async function hostileAnalyzersScenario(log: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<string[]> {
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    log(line);
  };
  const baseline = baselineWorktree();
  try {
    const variants: Variant[] = [
      { name: "before", root: baseline.root },
      { name: "after", root: ROOT },
    ];
    // the innocent file's cost alone, on one processor, measured once with this checkout (its log has pylint's CPU time)
    const cpuMs = await withServer(variants[1]!, { prefix: ["taskset", "-c", "0"], env: { ANALYZER_WORKERS: "1", ANALYZER_TIMEOUT_SECONDS: "55" } }, async (server) => {
      await uploadFrom(server.url, "calibrate.py", `${stdlibSource(REAL_WORLD.large)}\n# calibration\n`);
      return pylintCpuMs(server);
    });
    const results = [];
    for (const variant of variants) {
      log(`${variant.name}: huge literal…`);
      const huge = await hugeLiteralPeak(variant);
      log(`${variant.name}: innocent file under contention…`);
      const innocent = await innocentUnderContention(variant, cpuMs);
      log(`${variant.name}: trivial uploads during a near-duplicate flood…`);
      const flood = await trivialWaitDuringFlood(variant);
      results.push({ variant, huge, innocent, flood });
    }
    const [before, after] = results as [(typeof results)[0], (typeof results)[0]];
    say(
      `Before: a worktree of ${BASELINE_COMMIT}; after: this branch, defaults (ANALYZER_MEMORY_MB 1024) unless said. ${os.availableParallelism()} processors, shared with other work: ` +
        `the load average was ${os.loadavg()[0]!.toFixed(1)} at the end of the run, so the times are noisy; the outcomes are what counts.`,
    );
    say("");
    say("| analyzers under hostile load | before | after |");
    say("|---|---|---|");
    say(`| analyzer memory peak (largest resident process) on a 4 MB list literal, one lane, 30 s limit | ${Math.round(before.huge.peakMb)} MB | ${Math.round(after.huge.peakMb)} MB |`);
    say(`| … its answer (and when) | ${before.huge.answer} (${before.huge.seconds.toFixed(1)} s) | ${after.huge.answer} (${after.huge.seconds.toFixed(1)} s) |`);
    say(`| innocent file (pylint ${ms(cpuMs)} of CPU alone, limit twice that) while another client's two heavy files share its one processor | ${before.innocent.first} | ${after.innocent.first} |`);
    say(`| … the same file again on the idle server | ${before.innocent.again} | ${after.innocent.again} |`);
    say(`| trivial upload's wait (median of 4, max) while 3 addresses flood near-duplicates of a file over the 2 s limit, 2 lanes | ${ms(before.flood.medianMs)} (max ${ms(before.flood.maxMs)}) | ${ms(after.flood.medianMs)} (max ${ms(after.flood.maxMs)}) |`);
    say(`| … what the flood got | ${before.flood.flood} | ${after.flood.flood} |`);
    return lines;
  } finally {
    baseline.remove();
  }
}

// Benchmark scenario "hostile-load" (issue 14): server memory under held uploads, health during each attack, database growth per 5 MiB upload — the baseline commit's server and this one, in one run.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import Database from "better-sqlite3";
import { databaseFile } from "../../server/paths.ts";
import { controlCharacterFile, holdUploads, loopback, MiB, multipartRequest, pipelineUnread, rssBytes, sampleRss, sendCounting } from "../../test/helpers/hostile-load.ts";
import { startServer, tempDir, ROOT, type RunningServer } from "../../test/helpers/server-process.ts";
import { ms } from "./measure.ts";
import { writeSection } from "./report.ts";

/** main before issue 14: its server is run from an export of that commit beside this one. */
export const BASELINE_COMMIT = "1988a47";
/** A run whose server passes this is stopped there (the machine is shared): reported as "> ceiling". */
const CEILING_BYTES = 3 * 1024 * MiB;
const SPACING_MS = 200;

interface Samples {
  times: number[];
  statuses: number[];
}

/** Health asked every SPACING_MS from its own process (the attack's work does not delay it), for durationMs. */
function sampleHealth(url: string, durationMs: number): Promise<Samples> {
  return execa(process.execPath, [path.join(ROOT, "scripts/bench/sampler.ts"), `${url}/api/health`, String(SPACING_MS), String(durationMs)]).then(
    ({ stdout }) => JSON.parse(stdout) as Samples,
  );
}

/** The baseline commit's tree, exported (not a worktree: nothing is registered in the repository), sharing node_modules. */
function exportBaseline(): string {
  const dir = tempDir("codedetect-bench-baseline-");
  execFileSync("sh", ["-c", `git -C "${ROOT}" archive ${BASELINE_COMMIT} | tar -x -C "${dir}"`]);
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
  return dir;
}

interface Attack {
  peakBytes: number;
  stopped: boolean;
  health: Samples;
  /** The server's memory 5 s after the attack ended: whether it was given back. */
  afterBytes?: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Holds `count` 5 MiB uploads from count/5 addresses for durationMs, sampling memory and health; stopped at the ceiling. */
async function heldUploads(server: RunningServer, count: number, durationMs: number): Promise<Attack> {
  const pid = server.child.pid!;
  const health = sampleHealth(server.url, durationMs);
  await sleep(1000); // the sampler's warm-up
  let held: ReturnType<typeof holdUploads> | undefined;
  const memory = sampleRss(pid, { ceilingBytes: CEILING_BYTES, ceiling: () => held?.release() });
  held = holdUploads(server.port, count, Math.ceil(count / 5), Buffer.alloc(5 * MiB - 200, "x"));
  await sleep(durationMs - 1000); // held for the sampler's whole window
  held.release();
  const attack = { peakBytes: memory.stop(), stopped: memory.tripped, health: await health };
  await sleep(5000);
  return { ...attack, afterBytes: rssBytes(pid) };
}

/** Connections from `connections` addresses, each with `count` reads of `hash` pipelined and never read, for durationMs. */
async function unreadReads(server: RunningServer, hash: string, connections: number, count: number, durationMs: number): Promise<Attack> {
  const health = sampleHealth(server.url, durationMs);
  await sleep(1000);
  const pipes: Array<ReturnType<typeof pipelineUnread>> = [];
  const memory = sampleRss(server.child.pid!, { ceilingBytes: CEILING_BYTES, ceiling: () => pipes.forEach((pipe) => pipe.abort()) });
  for (let i = 0; i < connections; i++) pipes.push(pipelineUnread(server.port, `/api/analysis/${hash}`, count, loopback(500 + i), durationMs));
  await sleep(durationMs - 1000);
  for (const pipe of pipes) pipe.abort();
  const attack = { peakBytes: memory.stop(), stopped: memory.tripped, health: await health };
  await sleep(2000);
  return attack;
}

/** The control-character file re-sent from two addresses, one after another on each, for durationMs. */
async function resends(server: RunningServer, file: Buffer, durationMs: number): Promise<Attack & { answers: number }> {
  const health = sampleHealth(server.url, durationMs);
  await sleep(1000);
  const memory = sampleRss(server.child.pid!);
  const until = performance.now() + durationMs - 1000;
  let answers = 0;
  const client = async (from: string) => {
    while (performance.now() < until) {
      const { head, body } = multipartRequest("controls.py", file);
      if ((await sendCounting(server.port, [head, ...body], from)).status === 200) answers++;
    }
  };
  await Promise.all([client(loopback(600)), client(loopback(601))]);
  return { peakBytes: memory.stop(), stopped: false, health: await health, answers };
}

const GROWTH_UPLOADS = 5;

/** Bytes the database file grew by per distinct 5 MiB control-character upload (GROWTH_UPLOADS of them). */
async function growthPerUpload(server: RunningServer): Promise<number> {
  const size = () => fs.statSync(databaseFile(server.dataDir)).size;
  const before = size();
  for (let i = 0; i < GROWTH_UPLOADS; i++) {
    const file = controlCharacterFile(5 * MiB);
    file[2 + i] = 0x02; // distinct content, same size
    const { head, body } = multipartRequest(`growth-${i}.py`, file);
    const answer = await sendCounting(server.port, [head, ...body], loopback(700));
    if (answer.status !== 200) throw new Error(`upload for the growth figure answered ${answer.status}`);
  }
  return (size() - before) / GROWTH_UPLOADS;
}

interface Run {
  idle: number;
  held200: Attack;
  held1000: Attack;
  pipelined: Attack;
  resent: Attack & { answers: number };
  rowBytes: number;
  growth: number;
}

async function measure(root: string, quick: boolean): Promise<Run> {
  // each as it ships: the baseline with glibc's own malloc settings, this tree with the image's (server/allocator.ts)
  const server = await startServer({ root, malloc: root === ROOT ? "image" : "default", env: { ANALYZER_WORKERS: "2" } });
  try {
    const pid = server.child.pid!;
    const window = quick ? 6000 : 12_000;
    await sleep(1000);
    const idle = rssBytes(pid);
    const held200 = await heldUploads(server, 200, window);
    // long enough for the baseline to read what 1,000 clients send, shorter than the server's 58 s request timeout
    const held1000 = await heldUploads(server, 1000, quick ? 15_000 : 40_000);
    const file = controlCharacterFile(5 * MiB);
    const { head, body } = multipartRequest("controls.py", file);
    if ((await sendCounting(server.port, [head, ...body], loopback(400))).status !== 200) throw new Error("the control-character file was not analysed");
    const db = new Database(databaseFile(server.dataDir), { readonly: true });
    const [hash, rowBytes] = db.prepare("SELECT file_hash, length(result_json) FROM results").raw().get() as [string, number];
    db.close();
    const pipelined = await unreadReads(server, hash, 2, 50, window);
    const resent = await resends(server, file, window);
    const growth = await growthPerUpload(server);
    return { idle, held200, held1000, pipelined, resent, rowBytes, growth };
  } finally {
    await server.stop("SIGKILL");
  }
}

const mb = (bytes: number) => `${Math.round(bytes / MiB)} MB`;
const size = (bytes: number) => (bytes >= MiB ? mb(bytes) : `${(bytes / 1024).toFixed(1)} KB`);
/** SQLite grows its file a 4 KB page at a time: rows smaller than that fill pages already there. */
const growthCell = (bytes: number) => (bytes < 4096 ? `${size(bytes)} (${GROWTH_UPLOADS} rows fit in pages already there)` : size(bytes));
const memoryCell = (attack: Attack) => (attack.stopped ? `> ${mb(CEILING_BYTES)} (stopped at the ceiling)` : mb(attack.peakBytes));
const healthCell = (attack: Attack) => {
  const failed = attack.health.statuses.filter((status) => status !== 200).length;
  const slow = attack.health.times.filter((time) => time >= 5000).length;
  return `${ms(Math.max(...attack.health.times))} (${attack.health.times.length} checks${slow ? `, ${slow} ≥ 5 s` : ""}${failed ? `, ${failed} not 200` : ""})`;
};

export async function hostileLoadBench(options: { quick: boolean; write: boolean }): Promise<void> {
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    process.stdout.write(`${line}\n`);
  };
  const baselineRoot = exportBaseline();
  const before = await measure(baselineRoot, options.quick);
  const after = await measure(ROOT, options.quick);
  fs.rmSync(baselineRoot, { recursive: true, force: true });
  say(`One server each (defaults, ANALYZER_WORKERS=2): "before" is main at ${BASELINE_COMMIT} run from an export of that commit with glibc's malloc defaults, "after" this tree started as the image starts it (\`MALLOC_MMAP_THRESHOLD_=16384\`, server/allocator.ts); both in this run. Held uploads: 5 MiB each, all but the last 64 bytes sent, 5 per address from 127.0.0.x. Pipelined reads: 2 connections, each 50 \`GET /api/analysis/<hash>\` of the 5 MiB control-character file, never read. Re-sends: that file uploaded again and again from two addresses (no Accept-Encoding: the uncompressed answer). Each attack lasts 12 s (1,000 held uploads: 40 s, under the 58 s request timeout) and follows the previous one on the same server, so memory the baseline does not give back carries over. Memory is the server process's peak RSS (analyzer processes not included); a run passing ${mb(CEILING_BYTES)} is stopped there. Health: \`GET /api/health\` every ${SPACING_MS} ms from a separate process during each attack; the load balancer's timeout is 5 s.`);
  say("");
  say("| measure | before | after |");
  say("|---|---|---|");
  say(`| server memory, 0 held uploads (idle) | ${mb(before.idle)} | ${mb(after.idle)} |`);
  say(`| server memory, 200 held uploads | ${memoryCell(before.held200)} | ${memoryCell(after.held200)} |`);
  say(`| server memory, 1,000 held uploads | ${memoryCell(before.held1000)} | ${memoryCell(after.held1000)} |`);
  say(`| server memory 5 s after the 1,000 held uploads ended | ${mb(before.held1000.afterBytes!)} | ${mb(after.held1000.afterBytes!)} |`);
  say(`| server memory, pipelined reads never read | ${memoryCell(before.pipelined)} | ${memoryCell(after.pipelined)} |`);
  say(`| server memory, control-character re-sends | ${mb(before.resent.peakBytes)} | ${mb(after.resent.peakBytes)} |`);
  say(`| health max, 200 held uploads | ${healthCell(before.held200)} | ${healthCell(after.held200)} |`);
  say(`| health max, 1,000 held uploads | ${healthCell(before.held1000)} | ${healthCell(after.held1000)} |`);
  say(`| health max, pipelined reads never read | ${healthCell(before.pipelined)} | ${healthCell(after.pipelined)} |`);
  say(`| health max, control-character re-sends | ${healthCell(before.resent)} (${before.resent.answers} answers) | ${healthCell(after.resent)} (${after.resent.answers} answers) |`);
  say(`| stored row of the 5 MiB control-character file | ${size(before.rowBytes)} | ${size(after.rowBytes)} |`);
  say(`| database file growth per distinct 5 MiB control-character upload (${GROWTH_UPLOADS} uploads) | ${growthCell(before.growth)} | ${growthCell(after.growth)} |`);
  if (options.write) writeSection(path.join(ROOT, "BENCHMARKS.md"), "hostile-load", "Hostile load: memory, health and storage under held uploads, unread reads and control-character files", `npm run bench -- --only hostile-load${options.quick ? " --quick" : ""}`, lines);
}

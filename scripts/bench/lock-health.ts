// Benchmark scenario "lock-health": health and stats latency while another process holds the database lock under 20 waiting uploads, against nothing held, in one run.
import path from "node:path";
import { execa } from "execa";
import { holdLock } from "../../test/helpers/lock-holder.ts";
import { startServer, upload, ROOT } from "../../test/helpers/server-process.ts";
import { median, ms, ratio } from "./measure.ts";
import { writeSection } from "./report.ts";

const WAITING_UPLOADS = 20;
const SPACING_MS = 20;
const TARGET_MAX_MS = 50;

interface Samples {
  times: number[];
  statuses: number[];
  stale: number;
}

/** Asks `url` one request at a time, every SPACING_MS, for durationMs, from a separate process; latency per request. */
async function sample(url: string, durationMs: number): Promise<Samples> {
  const { stdout } = await execa(process.execPath, [path.join(ROOT, "scripts/bench/sampler.ts"), url, String(SPACING_MS), String(durationMs)]);
  return JSON.parse(stdout) as Samples;
}

const non200 = (s: Samples) => s.statuses.filter((status) => status !== 200).length;

export async function lockHealthBench(options: { quick: boolean; write: boolean }): Promise<{ met: boolean }> {
  const holdMs = options.quick ? 3000 : 10_000;
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    process.stdout.write(`${line}\n`);
  };
  // DB_BUSY_RETRY_SECONDS (default 15) outlasts the hold, so the waiting uploads complete once it ends
  // All uploads come from this one client: its share is lifted so that every one of them waits at the database.
  const server = await startServer({ env: { ANALYZER_QUEUE: String(WAITING_UPLOADS * 2), CLIENT_MAX_ANALYSES: String(WAITING_UPLOADS * 2) } });
  try {
    const health = `${server.url}/api/health`;
    const stats = `${server.url}/api/stats`;
    await upload(server.url, "warm.py", "warm = 1\n");
    for (let i = 0; i < 200; i++) await fetch(health).then((r) => r.arrayBuffer());

    const [idleHealth, idleStats] = await Promise.all([sample(health, holdMs), sample(stats, holdMs)]);

    const holder = await holdLock(path.join(server.dataDir, "database", "codedetect.db"));
    const uploads = Promise.all(Array.from({ length: WAITING_UPLOADS }, (_, i) => upload(server.url, `waiting_${i}.py`, `waiting_${process.pid}_${i} = ${i}\n`)));
    const [lockedHealth, lockedStats] = await Promise.all([sample(health, holdMs), sample(stats, holdMs)]);
    const released = performance.now();
    await holder.release();
    const answers = await uploads;
    const settledAfter = performance.now() - released;

    const row = (what: string, s: Samples, base?: Samples) =>
      `| ${what} | ${ms(median(s.times))}${base ? ` (${ratio(median(s.times) / median(base.times))})` : ""} | ${ms(Math.max(...s.times))}${base ? ` (${ratio(Math.max(...s.times) / Math.max(...base.times))})` : ""} | ${s.times.length} | ${non200(s)} |`;
    const maxLocked = Math.max(...lockedHealth.times);
    const met = maxLocked < TARGET_MAX_MS && non200(lockedHealth) === 0;
    say(`Another process holds the database lock (BEGIN EXCLUSIVE) for ${holdMs / 1000} s while ${WAITING_UPLOADS} uploads wait for it; health and stats are asked one request at a time every ${SPACING_MS} ms, first with nothing held for as long (the baseline, same run, same server). Ratios are against that baseline.`);
    say("");
    say("| request | median | max | requests | not 200 |");
    say("|---|---|---|---|---|");
    say(row("GET /api/health, nothing held (baseline)", idleHealth));
    say(row(`GET /api/health, lock held, ${WAITING_UPLOADS} uploads waiting`, lockedHealth, idleHealth));
    say(row("GET /api/stats, nothing held (baseline)", idleStats));
    say(row(`GET /api/stats, lock held (answered from the last figures, marked stale: ${lockedStats.stale} of ${lockedStats.times.length})`, lockedStats, idleStats));
    say("");
    const ok = answers.filter((a) => a.status === 200).length;
    say(`The ${WAITING_UPLOADS} waiting uploads: ${ok} answered 200 once the lock was released, all within ${ms(settledAfter)} of the release (analysis included).`);
    say("");
    say("How to read it: the database runs on its own thread and a lock held elsewhere is waited for with timers there, so health (answered from memory) does not notice the lock; before, each retry blocked the event loop in SQLite's busy timeout and issue 6 measured 16 s, then 503, for health in this situation. Stats during the lock are the last figures read, marked `stale`, after a 20 ms grace for a fresh read: that grace is the stats median.");
    say("");
    say("| target (issue 6) | this run | met |");
    say("|---|---|---|");
    say(`| health max under ${TARGET_MAX_MS} ms while the lock is held elsewhere | ${ms(maxLocked)} (${ratio(maxLocked / Math.max(...idleHealth.times))} the baseline max), ${non200(lockedHealth)} not 200 | ${met ? "yes" : "**no**"} |`);
    if (options.write) {
      writeSection(path.join(ROOT, "BENCHMARKS.md"), "lock-health", "Health while another host holds the database lock", `npm run bench -- --only lock-health${options.quick ? " --quick" : ""}`, lines);
    }
    return { met };
  } finally {
    await server.stop();
  }
}

// `npm run bench`: CodeDetect against the old way (tools as commands in sequence), in one run; writes BENCHMARKS.md's server section.
import { spawn } from "node:child_process";
import { once } from "node:events";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { openSqliteStore } from "../server/store/sqlite.ts";
import { startServer, tempDir, upload, ROOT } from "../test/helpers/server-process.ts";
import { runTool, sequentialAnalysis, TOOLS, type ToolName } from "./bench/baseline.ts";
import { lockHealthBench } from "./bench/lock-health.ts";
import { median, ms, ratio, throughput, timeMany, wrkRate } from "./bench/measure.ts";
import { writeSection } from "./bench/report.ts";
import { fairShareScenario } from "./bench/fair-share.ts";
import { hostileAnalyzersScenario } from "./bench/hostile-analyzers.ts";
import { hostileLoadBench } from "./bench/hostile-load.ts";
import { postgresBench } from "./bench/postgres.ts";
import { REAL_WORLD, stdlibSource } from "../test/helpers/python-sources.ts";
import { benchAgent } from "./bench/agent.ts";
import { inPlaceUpdateBench } from "./bench/in-place-update.ts";

const { values: flags } = parseArgs({ options: { quick: { type: "boolean", default: false }, "no-write": { type: "boolean", default: false }, only: { type: "string" } } });

/** Scenarios in their own modules, each writing its own BENCHMARKS.md section; `--only NAME` runs one ("server" is this file's). */
const SCENARIOS: Record<string, (options: { quick: boolean; write: boolean }) => Promise<unknown>> = {
  "lock-health": lockHealthBench,
  agent: () => agentSection(),
  postgres: postgresBench,
  "in-place-update": inPlaceUpdateBench,
  "hostile-load": hostileLoadBench,
  "fair-share": async ({ quick, write }) => {
    const fairShare = await fairShareScenario(quick ? 2 : 5);
    const command = `npm run bench -- --only fair-share${quick ? " --quick" : ""}`;
    if (write) writeSection(path.join(ROOT, "BENCHMARKS.md"), "fair-share", "One client flooding slow files, another client served", command, fairShare.lines);
  },
  "hostile-analyzers": async ({ write }) => {
    const lines = await hostileAnalyzersScenario();
    if (write) writeSection(path.join(ROOT, "BENCHMARKS.md"), "hostile-analyzers", "Analyzers under hostile load (issue 14)", "npm run bench -- --only hostile-analyzers", lines);
  },
};
const scenarioOptions = { quick: flags.quick, write: !flags["no-write"] };
if (flags.only !== undefined && flags.only !== "server") {
  const scenario = SCENARIOS[flags.only];
  if (!scenario) {
    process.stderr.write(`bench: unknown scenario "${flags.only}"; one of: server, ${Object.keys(SCENARIOS).join(", ")}\n`);
    process.exit(2);
  }
  await scenario(scenarioOptions);
  process.exit(0);
}
const rounds = flags.quick ? 2 : 5;
const sizes = ["small", "medium", "large"] as const;
const lines: string[] = [];
const say = (line: string) => {
  lines.push(line);
  process.stdout.write(`${line}\n`);
};

/** A unique variant of a fixture (a trailing comment), so the server cannot answer it from its database. */
let nonce = 0;
const fresh = (code: string) => `${code}\n# bench variant ${process.pid}-${nonce++}\n`;

/** The issue's targets, checked against this run's figures and listed under them. */
const targets: Array<{ what: string; met: boolean; measured: string }> = [];
const target = (what: string, met: boolean, measured: string) => targets.push({ what, met, measured });

/** The agent's section (scripts/bench/agent.ts): its own lines and targets, written between its own markers. */
async function agentSection(): Promise<void> {
  const agentLines: string[] = [];
  const agentTargets: typeof targets = [];
  const sayAgent = (line: string) => {
    agentLines.push(line);
    process.stdout.write(`${line}\n`);
  };
  await benchAgent({ quick: flags.quick, say: sayAgent, target: (what, met, measured) => agentTargets.push({ what, met, measured }) });
  sayAgent("");
  sayAgent("| target (issue 7) | this run | met |");
  sayAgent("|---|---|---|");
  for (const t of agentTargets) sayAgent(`| ${t.what} | ${t.measured} | ${t.met ? "yes" : "**no**"} |`);
  if (!flags["no-write"]) writeSection(path.join(ROOT, "BENCHMARKS.md"), "agent", "Bootstrap agent: start, no-op re-run, migration against cp -a", `npm run bench -- --only agent${flags.quick ? " --quick" : ""}`, agentLines);
}

const work = tempDir("codedetect-bench-");
// real-world files of three sizes from the analyzers' interpreter's standard library (read at run time, never copied)
const fixture = (size: (typeof sizes)[number]) => stdlibSource(REAL_WORLD[size]);
const server = await startServer({ env: { ANALYZER_WORKERS: String(os.availableParallelism()) } });
try {
  say(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, node ${process.version}, ${rounds} rounds per figure (median)`);
  say("");
  say("| analyze latency | lines | old: 3 commands in sequence | slowest single command | CodeDetect (warm, concurrent) | CodeDetect ÷ old |");
  say("|---|---|---|---|---|---|");
  for (const size of sizes) {
    const code = fixture(size);
    const file = path.join(work, `${size}.py`);
    fs.writeFileSync(file, code);
    await upload(server.url, `${size}.py`, fresh(code)); // warm-up: the first lint of a size loads stdlib modules once
    const baseline = median(await timeMany(rounds, () => sequentialAnalysis(file)));
    const single: Record<string, number> = {};
    for (const tool of Object.keys(TOOLS) as ToolName[]) single[tool] = median(await timeMany(rounds, () => runTool(tool, file)));
    const slowest = Math.max(...Object.values(single));
    const ours = median(await timeMany(rounds, async () => {
      const answer = await upload(server.url, `${size}.py`, fresh(code));
      if (answer.status !== 200) throw new Error(`analyze answered ${answer.status}: ${JSON.stringify(answer.body)}`);
    }));
    if (size === "medium") target("medium analyze ≤ 0.5 × sequential baseline", ours <= 0.5 * baseline, ratio(ours / baseline));
    target(`${size} analyze ≤ slowest single command`, ours <= slowest, `${ms(ours)} vs ${ms(slowest)}`);
    say(`| ${size} | ${code.split("\n").length} | ${ms(baseline)} | ${ms(slowest)} (${Object.entries(single).sort((a, b) => b[1] - a[1])[0]![0]}) | ${ms(ours)} | ${ratio(ours / baseline)} |`);
  }

  const medium = fixture("medium");
  const known = await upload(server.url, "repeat.py", medium);
  const repeat = median(await timeMany(rounds * 20, () => upload(server.url, "repeat.py", medium)));
  say("");
  target("repeat upload < 10 ms", repeat < 10, ms(repeat));
  say(`repeat upload of a known medium file (answered from the database, still counted): ${ms(repeat)} median of ${rounds * 20} (first analysis cached: ${known.status === 200})`);

  const jobs = flags.quick ? 8 : 16;
  const mediumFile = path.join(work, "medium.py");
  const oldRate = await throughput(jobs, 4, () => sequentialAnalysis(mediumFile));
  const ourRate = await throughput(jobs, 4, () => upload(server.url, "medium.py", fresh(medium)));
  say("");
  target("throughput at concurrency 4 ≥ 2 × baseline", ourRate >= 2 * oldRate, ratio(ourRate / oldRate));
  say(`analyze throughput, medium file, concurrency 4, ${jobs} files: old ${oldRate.toFixed(2)}/s, CodeDetect ${ourRate.toFixed(2)}/s = ${ratio(ourRate / oldRate)}`);

  const healthBody = (await (await fetch(`${server.url}/api/health`)).json()) as { checks: unknown };
  const bare = spawn(process.execPath, [path.join(ROOT, "scripts/bench/bare-health.ts"), JSON.stringify(healthBody.checks)], { stdio: ["ignore", "pipe", "inherit"] });
  const [portLine] = (await once(bare.stdout!, "data")) as [Buffer];
  const seconds = flags.quick ? 2 : 3;
  const healthRounds = flags.quick ? 3 : 7;
  const bareUrl = `http://127.0.0.1:${portLine.toString().trim()}/api/health`;
  const ourUrl = `${server.url}/api/health`;
  // Warm both up (JIT), then alternate, so neither profits from running second; report the medians.
  await wrkRate(bareUrl, 2);
  await wrkRate(ourUrl, 2);
  const bareRates: number[] = [];
  const ourRates: number[] = [];
  for (let round = 0; round < healthRounds; round++) {
    bareRates.push(await wrkRate(bareUrl, seconds));
    ourRates.push(await wrkRate(ourUrl, seconds));
  }
  const bareRate = median(bareRates);
  const ourHealth = median(ourRates);
  bare.kill("SIGTERM");
  say("");
  target("health ≥ 20,000 req/s", ourHealth >= 20_000, `${Math.round(ourHealth)} req/s`);
  target("health ≥ 0.7 × bare node:http", ourHealth >= 0.7 * bareRate, ratio(ourHealth / bareRate));
  say(`health (wrk -t1 -c32 -d${seconds}s, median of ${healthRounds} alternating runs after a warm-up): bare node:http ${Math.round(bareRate)} req/s (runs ${Math.round(Math.min(...bareRates))}–${Math.round(Math.max(...bareRates))}), CodeDetect ${Math.round(ourHealth)} req/s (runs ${Math.round(Math.min(...ourRates))}–${Math.round(Math.max(...ourRates))}) = ${ratio(ourHealth / bareRate)}`);
} finally {
  await server.stop();
}

// Stats at 100,000 rows: our SQL (a totals row kept by triggers + the last ten rows) against the old way (load every row).
const statsDir = tempDir("codedetect-bench-stats-");
const dbFile = path.join(statsDir, "database", "codedetect.db");
await (await openSqliteStore({ file: dbFile, busyDeadlineMs: 5000 })).close();
const db = new Database(dbFile);
const insert = db.prepare("INSERT INTO analysis (file_hash, timestamp, score, total_issues, security_issues, complexity_issues) VALUES (?, ?, ?, ?, ?, ?)");
db.transaction(() => {
  for (let i = 0; i < 100_000; i++) insert.run(i.toString(16).padStart(64, "0"), new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(), i % 101, i % 9, i % 4, i % 3);
})();
const oldStats = median(await timeMany(rounds, async () => {
  const all = db.prepare("SELECT * FROM analysis ORDER BY timestamp").all() as Array<{ score: number; total_issues: number; security_issues: number }>;
  return { total: all.length, avg: all.reduce((s, r) => s + r.score, 0) / all.length, trend: all.slice(-10) };
}));
db.close();
const statsServer = await startServer({ dataDir: statsDir, env: {} });
try {
  await fetch(`${statsServer.url}/api/stats`);
  const ours = median(await timeMany(rounds * 20, () => fetch(`${statsServer.url}/api/stats`).then((r) => r.json())));
  say("");
  target("stats at 100,000 rows < 5 ms", ours < 5, ms(ours));
  say(`stats at 100,000 rows: old way (load the table, in-process) ${ms(oldStats)}, CodeDetect GET /api/stats over HTTP ${ms(ours)} = ${ratio(ours / oldStats)}`);
} finally {
  await statsServer.stop();
}

say("");
say("| target (issue 2) | this run | met |");
say("|---|---|---|");
for (const t of targets) say(`| ${t.what} | ${t.measured} | ${t.met ? "yes" : "**no**"} |`);

if (!flags["no-write"]) writeSection(path.join(ROOT, "BENCHMARKS.md"), "server", "Server: CodeDetect beside the old way", `npm run bench${flags.quick ? " -- --quick" : ""}`, lines);

if (flags.only === undefined) for (const scenario of Object.values(SCENARIOS)) await scenario(scenarioOptions);

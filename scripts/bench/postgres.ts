// Benchmark scenario "postgres": write throughput of two server processes at concurrency 16 and stats latency at 100,000 rows, SQLite against PostgreSQL, in one run.
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { databaseFile } from "../../server/paths.ts";
import { startPostgres } from "../../test/helpers/postgres.ts";
import { startServer, tempDir, upload, ROOT, type RunningServer } from "../../test/helpers/server-process.ts";
import { median, ms } from "./measure.ts";
import { writeSection } from "./report.ts";

const CONCURRENCY = 16;
const DISTINCT_FILES = 16;
const STATS_ROWS = 100_000;

interface Backend {
  name: "SQLite (shared DATA_DIR)" | "PostgreSQL 15 (one DATABASE_URL)";
  env: Record<string, string>;
  /** Fills the analysis table up to `rows` with the backend's own SQL (totals kept by its schema). */
  fillTo(dataDir: string, rows: number): Promise<void>;
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;
const code = (i: number) => `def bench_${i}(value):\n    """Repeated content: answered from the database."""\n    return value * ${i}\n`;

/** Repeats of already-analysed files, round robin over both servers, CONCURRENCY in flight, for durationMs. */
async function writeLoad(servers: RunningServer[], durationMs: number) {
  const latencies: number[] = [];
  let failures = 0;
  let sent = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() - started < durationMs) {
        const index = sent++;
        const begin = performance.now();
        const answer = await upload(servers[index % servers.length]!.url, "bench.py", code(index % DISTINCT_FILES));
        latencies.push(performance.now() - begin);
        if (answer.status !== 200) failures++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { rate: (latencies.length - failures) / seconds, p50: median(latencies), p99: percentile(latencies, 99), failures, total: latencies.length };
}

async function statsLatency(server: RunningServer, requests: number) {
  const times: number[] = [];
  let total = 0;
  for (let i = 0; i < requests; i++) {
    const begin = performance.now();
    const response = await fetch(`${server.url}/api/stats`);
    const body = (await response.json()) as { total_analyses: number };
    times.push(performance.now() - begin);
    total = body.total_analyses;
  }
  return { p50: median(times), p99: percentile(times, 99), total };
}

async function countRows(server: RunningServer): Promise<number> {
  return ((await (await fetch(`${server.url}/api/stats`)).json()) as { total_analyses: number }).total_analyses;
}

export async function postgresBench(options: { quick: boolean; write: boolean }): Promise<void> {
  const durationMs = options.quick ? 3000 : 10_000;
  const statsRequests = options.quick ? 50 : 300;
  // fsync on, as a production server runs; on this machine's local disk (RDS and EFS add network round trips to both)
  const postgres = await startPostgres({ durable: true });
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    process.stdout.write(`${line}\n`);
  };
  try {
    postgres.createDatabase("bench");
    const backends: Backend[] = [
      {
        name: "SQLite (shared DATA_DIR)",
        env: {},
        async fillTo(dataDir, rows) {
          const db = new Database(databaseFile(dataDir), { timeout: 30_000 });
          try {
            const have = db.prepare("SELECT COUNT(*) FROM analysis").pluck().get() as number;
            db.prepare(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
              INSERT INTO analysis (file_hash, timestamp, score, total_issues, security_issues, complexity_issues)
              SELECT printf('%064x', i), '2026-01-01T00:00:00.000Z', i % 101, i % 7, i % 3, i % 2 FROM n`).run(Math.max(0, rows - have));
          } finally {
            db.close();
          }
        },
      },
      {
        name: "PostgreSQL 15 (one DATABASE_URL)",
        env: { DATABASE_URL: postgres.url("bench"), DATABASE_POOL_SIZE: "10" },
        async fillTo(_dataDir, rows) {
          const client = new pg.Client({ connectionString: postgres.url("bench") });
          await client.connect();
          try {
            const have = Number((await client.query("SELECT COUNT(*) AS n FROM analysis")).rows[0].n);
            await client.query(`INSERT INTO analysis (file_hash, timestamp, score, total_issues, security_issues, complexity_issues)
              SELECT lpad(to_hex(i), 64, '0'), '2026-01-01T00:00:00.000Z', i % 101, i % 7, i % 3, i % 2 FROM generate_series(1, $1::int) AS i`, [Math.max(0, rows - have)]);
          } finally {
            await client.end();
          }
        },
      },
    ];
    say(`Two server processes per backend on this machine, ${CONCURRENCY} uploads in flight round robin over both for ${durationMs / 1000} s. Every upload repeats one of ${DISTINCT_FILES} files analysed beforehand, so it is answered from the database (one write transaction: the analysis row, the result's last-seen time, the totals row): the database is what is measured. Then the analysis table is filled to ${STATS_ROWS.toLocaleString("en")} rows and /api/stats is asked ${statsRequests} times in a row. PostgreSQL runs with fsync on.`);
    say("");
    say("| backend | uploads/s (200s) | upload p50 | upload p99 | not 200 | stats p50 at 100,000 rows | stats p99 | rows counted |");
    say("|---|---|---|---|---|---|---|---|");
    for (const backend of backends) {
      const dataDir = tempDir("codedetect-bench-pg-");
      const env = { ...backend.env, CLIENT_MAX_ANALYSES: String(CONCURRENCY * 2), ANALYZER_QUEUE: String(CONCURRENCY * 2) };
      const servers = await Promise.all([startServer({ dataDir, env }), startServer({ dataDir, env })]);
      try {
        for (let i = 0; i < DISTINCT_FILES; i++) {
          const answer = await upload(servers[0]!.url, "bench.py", code(i));
          if (answer.status !== 200) throw new Error(`warm-up upload answered ${answer.status}: ${JSON.stringify(answer.body)}`);
        }
        const load = await writeLoad(servers, durationMs);
        const before = await countRows(servers[1]!);
        await backend.fillTo(dataDir, STATS_ROWS);
        const stats = await statsLatency(servers[1]!, statsRequests);
        if (stats.total < STATS_ROWS || stats.total < before) throw new Error(`stats counted ${stats.total} rows, expected at least ${STATS_ROWS}`);
        say(`| ${backend.name} | ${load.rate.toFixed(0)} | ${ms(load.p50)} | ${ms(load.p99)} | ${load.failures} of ${load.total} | ${ms(stats.p50)} | ${ms(stats.p99)} | ${stats.total.toLocaleString("en")} |`);
      } finally {
        for (const server of servers) await server.stop();
      }
    }
    say("");
    say("On shared EFS every SQLite write also pays NFS fsync latency under one file lock for the whole fleet; PostgreSQL's writers contend only on the totals row, and RDS adds a network round trip per statement. Figures from one 2-core machine with both servers, the database and the load generator on it.");
  } finally {
    postgres.destroy();
  }
  const command = `npm run bench -- --only postgres${options.quick ? " --quick" : ""}`;
  if (options.write) writeSection(path.join(ROOT, "BENCHMARKS.md"), "postgres", "SQLite or PostgreSQL: write throughput of two servers, stats at 100,000 rows", command, lines);
}

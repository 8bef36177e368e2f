// The PostgreSQL store (DATABASE_URL): node-postgres with a bounded pool, each write one short transaction, the same contract as SQLite's.
import pg from "pg";
import type { PoolClient } from "pg";
import { describePgError } from "./postgres-failures.ts";
import { migratePostgres } from "./postgres-schema.ts";
import type { DatabaseTarget } from "./postgres-url.ts";
import type { StoreLogger } from "./sqlite.ts";
import type { DatabaseCondition, Stats, Store, StoredResult, TrendPoint } from "./store.ts";
import { StoreUnavailableError } from "./store.ts";

export interface PostgresStoreOptions {
  target: DatabaseTarget;
  /** Connections this process may hold at most; requests beyond wait for one (up to the connect deadline). */
  poolSize: number;
  /** How long one operation may take (waiting for a connection included) before the caller gets StoreUnavailableError. */
  deadlineMs: number;
  logger?: StoreLogger;
}

/** Waiting for a connection (a free one in the pool, or a new one) gives up after this long: an outage is a quick 503. */
const CONNECT_DEADLINE_MS = 5000;

interface StatsRow {
  analyses: string;
  score_sum: string;
  security_issues: string;
  quality_issues: string;
  trend: Array<Omit<TrendPoint, "label"> & { id: number }>;
}

interface Repeated {
  score: number;
  summary: { total_issues: number; security_issues: number; high_complexity_functions: number };
}

export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store & { schema: { from: number; to: number } }> {
  const { target, logger } = options;
  const pool = new pg.Pool({
    ...target.config,
    max: options.poolSize,
    connectionTimeoutMillis: Math.min(CONNECT_DEADLINE_MS, options.deadlineMs),
    query_timeout: options.deadlineMs,
    // the server's side of the same deadline: a statement (or a lock wait) left behind by a client that gave up ends too
    statement_timeout: options.deadlineMs,
    // a process that froze mid-transaction (SIGSTOP, a hung host) must not hold the totals row's lock for the whole fleet
    idle_in_transaction_session_timeout: Math.max(options.deadlineMs, 10_000),
    idleTimeoutMillis: 30_000,
  });
  // an idle connection dropped by the server (restart, fail-over) is only noted: the pool replaces it on demand
  pool.on("error", (error) => logger?.warn({ err: describePgError(error).problem }, "idle database connection lost"));
  let condition: DatabaseCondition = { state: "ok" };
  let closed = false;

  let schema: { from: number; to: number };
  try {
    const client = await pool.connect();
    try {
      schema = await migratePostgres(client);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => undefined);
    const failure = describePgError(error);
    throw new Error(failure.problem);
  }

  const succeeded = () => {
    if (condition.state !== "ok") logger?.info({ database: target.described }, "database reachable again");
    condition = { state: "ok" };
  };
  const failed = (what: string, error: unknown): never => {
    const failure = describePgError(error);
    if (failure.connection) {
      if (condition.state !== "broken") {
        logger?.error({ database: target.described, err: failure.problem }, "database unreachable");
        condition = { state: "broken", since: new Date().toISOString(), problem: failure.problem };
      } else if (condition.problem !== failure.problem) condition = { ...condition, problem: failure.problem };
    }
    throw new StoreUnavailableError(`database ${what} failed: ${failure.problem}`, { cause: error });
  };

  /** One statement on any pooled connection. */
  const query = async <R extends pg.QueryResultRow>(what: string, text: string, values: unknown[]): Promise<R[]> => {
    if (closed) throw new StoreUnavailableError("database closed: the server is stopping");
    try {
      const { rows } = await pool.query<R>(text, values);
      succeeded();
      return rows;
    } catch (error) {
      return failed(what, error);
    }
  };

  /** BEGIN … COMMIT on one connection; on any failure rolled back (or the connection dropped), so nothing is half-written. */
  const transaction = async <T>(what: string, body: (client: PoolClient) => Promise<T>): Promise<T> => {
    if (closed) throw new StoreUnavailableError("database closed: the server is stopping");
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      return failed(what, error);
    }
    let broken: Error | undefined;
    // a connection lost while checked out is announced as an 'error' event too: noted here (the query fails with it), never unhandled
    const onLost = (error: Error) => (broken = error);
    client.on("error", onLost);
    try {
      await client.query("BEGIN");
      const result = await body(client);
      await client.query("COMMIT");
      succeeded();
      return result;
    } catch (error) {
      if (!broken) {
        try {
          await client.query("ROLLBACK");
        } catch {
          broken = error as Error; // the connection is unusable: the pool must not hand it out again
        }
      }
      return failed(what, error);
    } finally {
      client.off("error", onLost);
      client.release(broken);
    }
  };

  const insertAnalysis = `INSERT INTO analysis (file_hash, timestamp, score, total_issues, security_issues, complexity_issues) VALUES ($1, $2, $3, $4, $5, $6)`;

  return {
    schema,
    // the result row first, then the analysis (whose trigger locks the totals row): every writer takes locks in that order, so none deadlock
    recordAnalysis: (row, resultJson) =>
      transaction("write", async (client) => {
        await client.query(
          `INSERT INTO results (file_hash, result_json, created_at, last_seen_at) VALUES ($1, $2, $3, $3)
           ON CONFLICT (file_hash) DO UPDATE SET result_json = excluded.result_json, last_seen_at = excluded.last_seen_at`,
          [row.fileHash, resultJson, row.timestamp],
        );
        await client.query(insertAnalysis, [row.fileHash, row.timestamp, row.score, row.totalIssues, row.securityIssues, row.complexityIssues]);
      }),
    recordRepeat: (fileHash, timestamp) =>
      transaction("write", async (client): Promise<StoredResult | null> => {
        const { rows } = await client.query<{ result_json: string }>("UPDATE results SET last_seen_at = $2 WHERE file_hash = $1 RETURNING result_json", [fileHash, timestamp]);
        const resultJson = rows[0]?.result_json;
        if (resultJson === undefined) return null;
        const result = JSON.parse(resultJson) as Repeated;
        await client.query(insertAnalysis, [fileHash, timestamp, result.score, result.summary.total_issues, result.summary.security_issues, result.summary.high_complexity_functions]);
        return { fileHash, resultJson };
      }),
    async findResult(fileHash) {
      const rows = await query<{ result_json: string }>("read", "SELECT result_json FROM results WHERE file_hash = $1", [fileHash]);
      return rows[0] ? { fileHash, resultJson: rows[0].result_json } : null;
    },
    // one statement, so one snapshot: the totals row and the trend agree
    async stats(trendLength): Promise<Stats> {
      const rows = await query<StatsRow>(
        "read",
        `SELECT t.analyses, t.score_sum, t.security_issues, t.quality_issues,
           COALESCE((SELECT json_agg(x ORDER BY x.id) FROM (SELECT id, timestamp, score, total_issues, security_issues, complexity_issues
             FROM analysis ORDER BY id DESC LIMIT $1) x), '[]'::json) AS trend
         FROM totals t WHERE t.id = 1`,
        [trendLength],
      );
      const totals = rows[0]!;
      const analyses = Number(totals.analyses);
      return {
        total_analyses: analyses,
        avg_score: analyses === 0 ? 0 : Math.round((Number(totals.score_sum) / analyses) * 10) / 10,
        total_security_issues: Number(totals.security_issues),
        total_quality_issues: Number(totals.quality_issues),
        trend_data: totals.trend.map(({ id: _id, ...point }, index) => ({ label: `Analysis #${index + 1}`, ...point })),
      };
    },
    async addReport(report) {
      await query("write", "INSERT INTO reports (email, type, message, created_at) VALUES ($1, $2, $3, $4)", [report.email, report.type, report.message, report.createdAt]);
    },
    sweep: (cutoff) =>
      transaction("sweep", async (client) => {
        const deleted = await client.query<{ file_hash: string }>("DELETE FROM results WHERE last_seen_at < $1 RETURNING file_hash", [cutoff]);
        const reports = await client.query("DELETE FROM reports WHERE created_at < $1", [cutoff]);
        await client.query("DELETE FROM heartbeat WHERE seen_at < $1", [cutoff]);
        return { results: deleted.rowCount ?? 0, reports: reports.rowCount ?? 0, fileHashes: deleted.rows.map((r) => r.file_hash) };
      }),
    async liveResults(fileHashes) {
      if (fileHashes.length === 0) return [];
      const rows = await query<{ file_hash: string }>("read", "SELECT file_hash FROM results WHERE file_hash = ANY($1::text[])", [fileHashes]);
      return rows.map((r) => r.file_hash);
    },
    // through the pool, as every request goes: health fails when the pool cannot reach the database
    async probeWrite(host, timestamp) {
      await query("write", "INSERT INTO heartbeat (host, seen_at) VALUES ($1, $2) ON CONFLICT (host) DO UPDATE SET seen_at = excluded.seen_at", [host, timestamp]);
    },
    condition: () => condition,
    async close() {
      if (closed) return;
      closed = true;
      await pool.end().catch(() => undefined);
    },
  };
}

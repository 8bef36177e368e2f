// The two real backends the store contract suite runs against: a SQLite file in a temp dir, a database on a PostgreSQL server the suite starts.
import path from "node:path";
import Database from "better-sqlite3";
import pg from "pg";
import { openPostgresStore } from "../../server/store/postgres.ts";
import { databaseTarget } from "../../server/store/postgres-url.ts";
import { openSqliteStore } from "../../server/store/sqlite.ts";
import type { Store } from "../../server/store/store.ts";
import { holdLock } from "../helpers/lock-holder.ts";
import type { RunningPostgres } from "../helpers/postgres.ts";
import { tempDir } from "../helpers/server-process.ts";

export type OpenedStore = Store & { schema: { from: number; to: number } };

/** One fresh, empty database of a backend. */
export interface Fixture {
  open(deadlineMs?: number): Promise<OpenedStore>;
  /** Adds n analysis rows straight through the backend's own SQL (as many writers over time would have); totals kept by the schema. */
  bulkInsert(n: number): Promise<void>;
  /** COUNT and SUMs of the analysis table, computed by a full scan (the slow, obviously right way). */
  aggregates(): Promise<{ count: number; score: number; security: number; quality: number }>;
  /** Makes writes impossible for now (SQLite: another process holds the lock; PostgreSQL: the server stops); returns the undo. */
  block(): Promise<() => Promise<void>>;
  /** Rows of the analysis table, oldest first. */
  rows(): Promise<Array<{ file_hash: string; score: number }>>;
  /** Puts a result row in as schema version 1 wrote it (with the code inside) and marks the database as version 1. */
  storeAsVersion1(fileHash: string, resultJson: string): Promise<void>;
}

export interface Backend {
  name: "sqlite" | "postgresql";
  fresh(): Promise<Fixture>;
}

const BULK_SQLITE = `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
  INSERT INTO analysis (file_hash, timestamp, score, total_issues, security_issues, complexity_issues)
  SELECT printf('%064x', i), '2026-01-01T00:00:00.000Z', i % 101, i % 7, i % 3, i % 2 FROM n`;
const BULK_PG = `INSERT INTO analysis (file_hash, timestamp, score, total_issues, security_issues, complexity_issues)
  SELECT lpad(to_hex(i), 64, '0'), '2026-01-01T00:00:00.000Z', i % 101, i % 7, i % 3, i % 2 FROM generate_series(1, $1::int) AS i`;
const AGGREGATES = "SELECT COUNT(*) AS count, COALESCE(SUM(score), 0) AS score, COALESCE(SUM(security_issues), 0) AS security, COALESCE(SUM(total_issues), 0) AS quality FROM analysis";

type Aggregates = { count: number; score: number; security: number; quality: number };
const numbers = (row: Record<string, unknown>): Aggregates =>
  ({ count: Number(row.count), score: Number(row.score), security: Number(row.security), quality: Number(row.quality) });

export const sqliteBackend: Backend = {
  name: "sqlite",
  async fresh() {
    const file = path.join(tempDir("codedetect-contract-"), "database", "codedetect.db");
    const withDb = <T>(body: (db: Database.Database) => T): T => {
      const db = new Database(file, { fileMustExist: true, timeout: 10_000 });
      try {
        return body(db);
      } finally {
        db.close();
      }
    };
    return {
      open: (deadlineMs = 5000) => openSqliteStore({ file, busyDeadlineMs: deadlineMs }),
      bulkInsert: async (n) => void withDb((db) => db.prepare(BULK_SQLITE).run(n)),
      aggregates: async () => withDb((db) => numbers(db.prepare(AGGREGATES).get() as Record<string, unknown>)),
      async block() {
        const holder = await holdLock(file, "EXCLUSIVE");
        return () => holder.release();
      },
      rows: async () => withDb((db) => db.prepare("SELECT file_hash, score FROM analysis ORDER BY id").all() as Array<{ file_hash: string; score: number }>),
      storeAsVersion1: async (fileHash, resultJson) =>
        withDb((db) => {
          db.prepare("INSERT INTO results (file_hash, result_json, created_at, last_seen_at) VALUES (?, ?, 'x', 'x')").run(fileHash, resultJson);
          db.pragma("user_version = 1");
        }),
    };
  },
};

let databases = 0;

export function postgresBackend(server: () => RunningPostgres): Backend {
  return {
    name: "postgresql",
    async fresh() {
      const name = `contract_${process.pid}_${++databases}`;
      server().createDatabase(name);
      const url = server().url(name);
      const withClient = async <T>(body: (client: pg.Client) => Promise<T>): Promise<T> => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          return await body(client);
        } finally {
          await client.end();
        }
      };
      return {
        open: (deadlineMs = 5000) => openPostgresStore({ target: databaseTarget(url, null), poolSize: 4, deadlineMs }),
        bulkInsert: (n) => withClient(async (client) => void (await client.query(BULK_PG, [n]))),
        aggregates: () => withClient(async (client) => numbers((await client.query(AGGREGATES)).rows[0])),
        async block() {
          server().stop("fast");
          return async () => server().start();
        },
        rows: () => withClient(async (client) => (await client.query("SELECT file_hash, score FROM analysis ORDER BY id")).rows),
        storeAsVersion1: (fileHash, resultJson) =>
          withClient(async (client) => {
            await client.query("INSERT INTO results (file_hash, result_json, created_at, last_seen_at) VALUES ($1, $2, 'x', 'x')", [fileHash, resultJson]);
            await client.query("UPDATE codedetect_schema SET version = 1");
          }),
      };
    },
  };
}

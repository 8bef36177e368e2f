// migrate-db's copy into PostgreSQL: all of it in one transaction, verified before COMMIT (so a target is empty or complete); and the catch-up by id.
import type { ClientBase } from "pg";
import type { Figures, Snapshot } from "./migrate-source.ts";
import { migratePostgres } from "./postgres-schema.ts";

/** Taken by every migrate-db run for its whole transaction: two runs at once do not both copy. */
const COPY_LOCK_KEY = 0x434f5059; // "COPY"
const ANALYSIS_BATCH = 5000;
const RESULT_BATCH = 500;

export type Outcome =
  | { kind: "copied"; figures: Figures }
  | { kind: "already"; copiedAt: string; analyses: number; pending: number }
  | { kind: "caught-up"; analyses: number; reports: number; results: number }
  | { kind: "refused"; reason: string };

/** A figure that differs between the two sides: the transaction is rolled back, nothing is left in the target. */
export class VerificationError extends Error {
  override name = "VerificationError";
}

interface Marker {
  copied_at: string;
  analysis_high_water: string;
  reports_high_water: string;
}

async function targetFigures(client: ClientBase, afterId = 0): Promise<Figures> {
  const { rows } = await client.query(`SELECT
      (SELECT COUNT(*) FROM analysis WHERE id > $1) AS analyses,
      (SELECT COALESCE(SUM(score), 0) FROM analysis WHERE id > $1) AS score_sum,
      (SELECT COALESCE(SUM(security_issues), 0) FROM analysis WHERE id > $1) AS security_sum,
      (SELECT COALESCE(SUM(total_issues), 0) FROM analysis WHERE id > $1) AS quality_sum,
      (SELECT COALESCE(SUM(complexity_issues), 0) FROM analysis WHERE id > $1) AS complexity_sum,
      (SELECT COUNT(*) FROM results) AS results, (SELECT COUNT(*) FROM reports) AS reports,
      t.analyses AS t_analyses, t.score_sum AS t_score, t.security_issues AS t_security, t.quality_issues AS t_quality
    FROM totals t WHERE t.id = 1`, [afterId]);
  const r = rows[0] as Record<string, string>;
  const n = (key: string) => Number(r[key]);
  return {
    analyses: n("analyses"), scoreSum: n("score_sum"), securitySum: n("security_sum"), qualitySum: n("quality_sum"), complexitySum: n("complexity_sum"),
    totals: { analyses: n("t_analyses"), scoreSum: n("t_score"), securitySum: n("t_security"), qualitySum: n("t_quality") },
    results: n("results"), reports: n("reports"),
  };
}

function verifyEqual(source: Figures, target: Figures): void {
  const differences: string[] = [];
  const compare = (what: string, a: number, b: number) => a !== b && differences.push(`${what}: SQLite ${a}, PostgreSQL ${b}`);
  compare("analyses", source.analyses, target.analyses);
  compare("score sum", source.scoreSum, target.scoreSum);
  compare("security issues", source.securitySum, target.securitySum);
  compare("quality issues", source.qualitySum, target.qualitySum);
  compare("complexity issues", source.complexitySum, target.complexitySum);
  compare("results", source.results, target.results);
  compare("reports", source.reports, target.reports);
  compare("totals row: analyses", source.totals.analyses, target.totals.analyses);
  compare("totals row: score sum", source.totals.scoreSum, target.totals.scoreSum);
  compare("totals row: security issues", source.totals.securitySum, target.totals.securitySum);
  compare("totals row: quality issues", source.totals.qualitySum, target.totals.qualitySum);
  if (differences.length > 0) throw new VerificationError(`verification failed, nothing was written: ${differences.join("; ")}`);
}

/** What was added equals the source's rows past the mark; the totals row still equals a full scan. */
function verifyCatchUp(expected: Figures, before: Figures, after: Figures, reportsCopied: number): void {
  const differences: string[] = [];
  const compare = (what: string, a: number, b: number) => a !== b && differences.push(`${what}: ${a} expected, ${b} found`);
  compare("analyses added", expected.analyses, after.analyses - before.analyses);
  compare("score sum added", expected.scoreSum, after.scoreSum - before.scoreSum);
  compare("security issues added", expected.securitySum, after.securitySum - before.securitySum);
  compare("quality issues added", expected.qualitySum, after.qualitySum - before.qualitySum);
  compare("complexity issues added", expected.complexitySum, after.complexitySum - before.complexitySum);
  compare("reports added", reportsCopied, after.reports - before.reports);
  compare("totals row: analyses", after.analyses, after.totals.analyses);
  compare("totals row: score sum", after.scoreSum, after.totals.scoreSum);
  compare("totals row: security issues", after.securitySum, after.totals.securitySum);
  compare("totals row: quality issues", after.qualitySum, after.totals.qualitySum);
  if (differences.length > 0) throw new VerificationError(`verification failed, nothing was written: ${differences.join("; ")}`);
}

async function inTransaction<T>(client: ClientBase, body: () => Promise<T>): Promise<T> {
  await client.query("BEGIN");
  try {
    await client.query("SELECT pg_advisory_xact_lock($1)", [COPY_LOCK_KEY]);
    const value = await body();
    await client.query("COMMIT");
    return value;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  }
}

async function copyAnalyses(client: ClientBase, snapshot: Snapshot, after: number, keepIds: boolean, progress: (line: string) => void): Promise<number> {
  let copied = 0;
  for (let batch = snapshot.analyses(after, ANALYSIS_BATCH); batch.length > 0; batch = snapshot.analyses(batch.at(-1)!.id, ANALYSIS_BATCH)) {
    const column = <K extends keyof (typeof batch)[number]>(key: K) => batch.map((row) => row[key]);
    const values = [column("file_hash"), column("timestamp"), column("score"), column("total_issues"), column("security_issues"), column("complexity_issues")];
    if (keepIds) {
      await client.query(`INSERT INTO analysis (id, file_hash, timestamp, score, total_issues, security_issues, complexity_issues)
        SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::int[], $6::int[], $7::int[])`, [column("id"), ...values]);
    } else {
      // caught-up rows take new ids after the ones the PostgreSQL fleet wrote meanwhile, in their SQLite order
      await client.query(`INSERT INTO analysis (file_hash, timestamp, score, total_issues, security_issues, complexity_issues)
        SELECT f, t, s, ti, si, ci FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::int[], $6::int[]) WITH ORDINALITY AS u(f, t, s, ti, si, ci, n) ORDER BY n`, values);
    }
    copied += batch.length;
    progress(`analyses copied: ${copied}`);
  }
  return copied;
}

/** Results: upserted, keeping the later last_seen_at (a file seen on both sides in between stays as long as either saw it). */
async function copyResults(client: ClientBase, snapshot: Snapshot): Promise<number> {
  let copied = 0;
  for (let batch = snapshot.results("", RESULT_BATCH); batch.length > 0; batch = snapshot.results(batch.at(-1)!.file_hash, RESULT_BATCH)) {
    const column = <K extends keyof (typeof batch)[number]>(key: K) => batch.map((row) => row[key]);
    await client.query(`INSERT INTO results (file_hash, result_json, created_at, last_seen_at)
      SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
      ON CONFLICT (file_hash) DO UPDATE SET last_seen_at = GREATEST(results.last_seen_at, excluded.last_seen_at)`,
      [column("file_hash"), column("result_json"), column("created_at"), column("last_seen_at")]);
    copied += batch.length;
  }
  return copied;
}

async function copyReports(client: ClientBase, snapshot: Snapshot, after: number, keepIds: boolean): Promise<number> {
  let copied = 0;
  for (let batch = snapshot.reports(after, ANALYSIS_BATCH); batch.length > 0; batch = snapshot.reports(batch.at(-1)!.id, ANALYSIS_BATCH)) {
    const column = <K extends keyof (typeof batch)[number]>(key: K) => batch.map((row) => row[key]);
    const values = [column("email"), column("type"), column("message"), column("created_at")];
    if (keepIds) await client.query("INSERT INTO reports (id, email, type, message, created_at) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])", [column("id"), ...values]);
    else await client.query("INSERT INTO reports (email, type, message, created_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])", values);
    copied += batch.length;
  }
  return copied;
}

async function readMarker(client: ClientBase): Promise<Marker | undefined> {
  return (await client.query<Marker>("SELECT copied_at, analysis_high_water, reports_high_water FROM migration_source WHERE id = 1")).rows[0];
}

/** The first copy; a second run finds its marker and says so; a target holding anything else is refused. */
export async function copyAll(client: ClientBase, snapshot: Snapshot, progress: (line: string) => void): Promise<Outcome> {
  await migratePostgres(client);
  return inTransaction(client, async () => {
    const marker = await readMarker(client);
    if (marker) {
      const pending = snapshot.figures(Number(marker.analysis_high_water)).analyses;
      return { kind: "already", copiedAt: marker.copied_at, analyses: Number(marker.analysis_high_water), pending };
    }
    const present = await targetFigures(client);
    if (present.analyses + present.results + present.reports > 0) {
      return { kind: "refused", reason: `the target database already holds other data (${present.analyses} analyses, ${present.results} results, ${present.reports} reports) not copied by migrate-db; refusing to merge: give an empty database` };
    }
    await copyAnalyses(client, snapshot, 0, true, progress);
    await copyResults(client, snapshot);
    await copyReports(client, snapshot, 0, true);
    const high = snapshot.maxIds();
    // new rows written by servers on PostgreSQL continue after the copied ids
    await client.query("SELECT setval(pg_get_serial_sequence('analysis', 'id'), GREATEST($1::bigint, 1), $1::bigint > 0)", [high.analysis]);
    await client.query("SELECT setval(pg_get_serial_sequence('reports', 'id'), GREATEST($1::bigint, 1), $1::bigint > 0)", [high.reports]);
    await client.query("INSERT INTO migration_source (id, copied_at, analysis_high_water, reports_high_water) VALUES (1, $1, $2, $3)", [new Date().toISOString(), high.analysis, high.reports]);
    const figures = snapshot.figures();
    verifyEqual(figures, await targetFigures(client));
    return { kind: "copied", figures };
  });
}

/**
 * The switch-over's last step: rows written to SQLite after the copy (ids above the high-water mark) are added, with
 * new ids, and the mark moves; results are upserted; run again, it finds nothing to add.
 */
export async function catchUp(client: ClientBase, snapshot: Snapshot, progress: (line: string) => void): Promise<Outcome> {
  await migratePostgres(client);
  return inTransaction(client, async () => {
    const marker = (await client.query<Marker>("SELECT copied_at, analysis_high_water, reports_high_water FROM migration_source WHERE id = 1 FOR UPDATE")).rows[0];
    if (!marker) return { kind: "refused", reason: "the target holds no copy made by migrate-db: run it without --catch-up first" };
    const analysisMark = Number(marker.analysis_high_water);
    const reportsMark = Number(marker.reports_high_water);
    const high = snapshot.maxIds();
    if (high.analysis < analysisMark) {
      return { kind: "refused", reason: `the SQLite database has fewer analyses (highest id ${high.analysis}) than were copied (${analysisMark}): it is not the database that was copied` };
    }
    const before = await targetFigures(client);
    const expected = snapshot.figures(analysisMark);
    const analyses = await copyAnalyses(client, snapshot, analysisMark, false, progress);
    const reports = await copyReports(client, snapshot, reportsMark, false);
    const results = await copyResults(client, snapshot);
    const after = await targetFigures(client);
    verifyCatchUp(expected, before, after, reports);
    await client.query("UPDATE migration_source SET analysis_high_water = $1, reports_high_water = $2 WHERE id = 1", [Math.max(high.analysis, analysisMark), Math.max(high.reports, reportsMark)]);
    return { kind: "caught-up", analyses, reports, results };
  });
}

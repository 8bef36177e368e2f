// The store contract (server/store/store.ts), one suite run against both real backends: a SQLite file and a PostgreSQL server started here.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { StoreUnavailableError, type AnalysisRow } from "../../server/store/store.ts";
import { postgresGate, startPostgres, type RunningPostgres } from "../helpers/postgres.ts";
import { postgresBackend, sqliteBackend, type Backend } from "./backends.ts";

function row(n: number, overrides: Partial<AnalysisRow> = {}): AnalysisRow {
  return { fileHash: n.toString(16).padStart(64, "0"), timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(), score: 50 + (n % 50), totalIssues: n % 7, securityIssues: n % 3, complexityIssues: n % 2, ...overrides };
}

function resultOf(r: AnalysisRow): string {
  return JSON.stringify({ file_hash: r.fileHash, score: r.score, summary: { total_issues: r.totalIssues, security_issues: r.securityIssues, high_complexity_functions: r.complexityIssues } });
}

const gate = postgresGate();
let postgres: RunningPostgres | undefined;
before(async () => {
  if (gate.mustFail) throw new Error(`PostgreSQL is required under CI: ${gate.skip || "unavailable"}`);
  if (!gate.skip) postgres = await startPostgres();
});
after(() => postgres?.destroy());

const backends: Array<{ backend: Backend; skip: string | false }> = [
  { backend: sqliteBackend, skip: false },
  { backend: postgresBackend(() => postgres!), skip: gate.skip },
];

for (const { backend, skip } of backends) {
  describe(`store contract on ${backend.name}`, { skip }, () => {
    test("stats: totals, average to one decimal, the last 10 oldest first; all zeros when empty", async () => {
      const store = await (await backend.fresh()).open();
      try {
        assert.deepEqual(await store.stats(10), { total_analyses: 0, avg_score: 0, total_security_issues: 0, total_quality_issues: 0, trend_data: [] });
        const rows = Array.from({ length: 12 }, (_, i) => row(i + 1));
        for (const r of rows) await store.recordAnalysis(r, resultOf(r));
        const stats = await store.stats(10);
        assert.equal(stats.total_analyses, 12);
        assert.equal(stats.avg_score, Math.round((rows.reduce((sum, r) => sum + r.score, 0) / 12) * 10) / 10);
        assert.equal(stats.total_security_issues, rows.reduce((sum, r) => sum + r.securityIssues, 0));
        assert.equal(stats.total_quality_issues, rows.reduce((sum, r) => sum + r.totalIssues, 0));
        assert.equal(stats.trend_data.length, 10);
        assert.deepEqual(stats.trend_data[0], { label: "Analysis #1", timestamp: rows[2]!.timestamp, score: rows[2]!.score, total_issues: rows[2]!.totalIssues, security_issues: rows[2]!.securityIssues, complexity_issues: rows[2]!.complexityIssues });
        assert.equal(stats.trend_data[9]!.timestamp, rows[11]!.timestamp);
      } finally {
        await store.close();
      }
    });

    test("a repeat of known content is counted with the stored score; unknown content is not; results are found by hash", async () => {
      const store = await (await backend.fresh()).open();
      try {
        const first = row(1, { score: 77, totalIssues: 4 });
        await store.recordAnalysis(first, resultOf(first));
        const repeat = await store.recordRepeat(first.fileHash, "2026-02-01T00:00:00.000Z");
        assert.equal(JSON.parse(repeat!.resultJson).score, 77);
        assert.equal(await store.recordRepeat("f".repeat(64), "2026-02-01T00:00:00.000Z"), null);
        assert.equal((await store.findResult(first.fileHash))?.resultJson, resultOf(first));
        assert.equal(await store.findResult("e".repeat(64)), null);
        assert.deepEqual(await store.liveResults([first.fileHash, "e".repeat(64)]), [first.fileHash]);
        assert.deepEqual(await store.liveResults([]), []);
        const stats = await store.stats(10);
        assert.equal(stats.total_analyses, 2);
        assert.equal(stats.total_quality_issues, 8);
      } finally {
        await store.close();
      }
    });

    test("the sweep removes results and reports older than the cutoff, names their hashes, and keeps statistics", async () => {
      const store = await (await backend.fresh()).open();
      try {
        const old = row(1, { timestamp: "2026-01-01T00:00:00.000Z" });
        const recent = row(2, { timestamp: "2026-03-01T00:00:00.000Z" });
        await store.recordAnalysis(old, resultOf(old));
        await store.recordAnalysis(recent, resultOf(recent));
        await store.addReport({ email: "a@example.com", type: "bug", message: "old", createdAt: "2026-01-02T00:00:00.000Z" });
        await store.addReport({ email: "b@example.com", type: "feedback", message: "new", createdAt: "2026-03-02T00:00:00.000Z" });
        await store.probeWrite("host-a", "2026-01-01T00:00:00.000Z");
        const outcome = await store.sweep("2026-02-01T00:00:00.000Z");
        assert.deepEqual(outcome, { results: 1, reports: 1, fileHashes: [old.fileHash] });
        assert.equal(await store.findResult(old.fileHash), null);
        assert.ok(await store.findResult(recent.fileHash));
        assert.equal((await store.stats(10)).total_analyses, 2);
        assert.deepEqual(await store.sweep("2026-02-01T00:00:00.000Z"), { results: 0, reports: 0, fileHashes: [] });
      } finally {
        await store.close();
      }
    });

    test("200 concurrent writes (new and repeated content) through two stores: rows equal acknowledged writes", async () => {
      const fixture = await backend.fresh();
      const stores = [await fixture.open(10_000), await fixture.open(10_000)];
      try {
        const seed = row(1000);
        await stores[0]!.recordAnalysis(seed, resultOf(seed));
        const writes = Array.from({ length: 200 }, (_, i) => {
          const store = stores[i % 2]!;
          if (i % 2 === 0) return store.recordRepeat(seed.fileHash, new Date(Date.UTC(2026, 1, 1, 0, 0, i)).toISOString()).then(() => 1);
          const fresh = row(i + 1);
          return store.recordAnalysis(fresh, resultOf(fresh)).then(() => 1);
        });
        const acknowledged = (await Promise.allSettled(writes)).filter((w) => w.status === "fulfilled").length;
        assert.equal(acknowledged, 200);
        const rows = await fixture.rows();
        assert.equal(rows.length, 201);
        assert.equal(rows.filter((r) => r.file_hash === seed.fileHash).length, 101);
        assert.ok(rows.filter((r) => r.file_hash === seed.fileHash).every((r) => r.score === seed.score));
        assert.equal((await stores[1]!.stats(10)).total_analyses, 201);
      } finally {
        for (const store of stores) await store.close();
      }
    });

    test("four instances opening a new database at once: the schema is applied once, all at the same version", async () => {
      const fixture = await backend.fresh();
      const stores = await Promise.all([fixture.open(10_000), fixture.open(10_000), fixture.open(10_000), fixture.open(10_000)]);
      try {
        const froms = stores.map((store) => store.schema.from).sort();
        const version = stores[0]!.schema.to;
        assert.ok(version >= 2, `schema version ${version}`);
        assert.deepEqual(froms, [0, version, version, version]);
        assert.ok(stores.every((store) => store.schema.to === version));
        const r = row(5);
        await stores[3]!.recordAnalysis(r, resultOf(r));
        assert.equal((await stores[0]!.stats(10)).total_analyses, 1);
      } finally {
        for (const store of stores) await store.close();
      }
    });

    test("migrating from version 1 takes the code out of stored results and keeps the rest", async () => {
      const fixture = await backend.fresh();
      await (await fixture.open()).close();
      const hash = "c".repeat(64);
      await fixture.storeAsVersion1(hash, JSON.stringify({ file_hash: hash, score: 61, original_code: "\u0001".repeat(1000), summary: { total_issues: 2 } }));
      const store = await fixture.open();
      try {
        assert.equal(store.schema.from, 1);
        const stored = JSON.parse((await store.findResult(hash))!.resultJson);
        assert.deepEqual(stored, { file_hash: hash, score: 61, summary: { total_issues: 2 } });
      } finally {
        await store.close();
      }
    });

    test("100,000 rows: statistics come from the totals row and equal a full scan's aggregates", async () => {
      const fixture = await backend.fresh();
      const store = await fixture.open();
      try {
        await fixture.bulkInsert(100_000);
        const r = row(7);
        await store.recordAnalysis(r, resultOf(r));
        const scan = await fixture.aggregates();
        assert.equal(scan.count, 100_001);
        const stats = await store.stats(10);
        assert.equal(stats.total_analyses, scan.count);
        assert.equal(stats.avg_score, Math.round((scan.score / scan.count) * 10) / 10);
        assert.equal(stats.total_security_issues, scan.security);
        assert.equal(stats.total_quality_issues, scan.quality);
        assert.equal(stats.trend_data.at(-1)!.timestamp, r.timestamp);
      } finally {
        await store.close();
      }
    });

    test("a write that cannot be made fails as StoreUnavailableError and leaves no row; writes succeed again once it can be made", async () => {
      const fixture = await backend.fresh();
      const store = await fixture.open(1500);
      try {
        const before = row(1);
        await store.recordAnalysis(before, resultOf(before));
        const unblock = await fixture.block();
        const lost = row(2);
        try {
          await assert.rejects(store.recordAnalysis(lost, resultOf(lost)), StoreUnavailableError);
          await assert.rejects(store.recordRepeat(before.fileHash, "2026-05-01T00:00:00.000Z"), StoreUnavailableError);
          assert.notEqual(store.condition().state, "ok");
        } finally {
          await unblock();
        }
        const after = row(3);
        await store.recordAnalysis(after, resultOf(after));
        assert.equal(store.condition().state, "ok");
        assert.deepEqual((await fixture.rows()).map((r) => r.file_hash), [before.fileHash, after.fileHash]);
        assert.equal((await store.stats(10)).total_analyses, 2);
      } finally {
        await store.close();
      }
    });
  });
}

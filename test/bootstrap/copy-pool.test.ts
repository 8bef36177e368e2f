// The migration's parallel copier: every byte copied and proven by sha256 (sizes around its 8 MB piece), never overwriting, errors per file.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { copyAllVerified, type CopyJob, type CopyResult } from "../../bootstrap/migration/copy-pool.ts";
import { tempDir } from "./helpers.ts";

const sha = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

describe("copyAllVerified", () => {
  it("copies files of every size (empty, small, one byte over a piece, several pieces) with the source's sha256, mode 0600", async () => {
    const root = tempDir("cdagent-pool");
    const sizes = [0, 1, 4096, 8 * 1024 * 1024, 8 * 1024 * 1024 + 1, 20 * 1024 * 1024 + 7];
    const jobs: CopyJob[] = [];
    const contents = new Map<string, Buffer>();
    for (const [i, size] of sizes.entries()) {
      const source = path.join(root, "src", `d${i % 2}`, `f${i}`);
      fs.mkdirSync(path.dirname(source), { recursive: true });
      const bytes = randomBytes(size);
      fs.writeFileSync(source, bytes);
      contents.set(source, bytes);
      fs.mkdirSync(path.join(root, "dst", `d${i % 2}`), { recursive: true });
      jobs.push({ source, destination: path.join(root, "dst", `d${i % 2}`, `f${i}`) });
    }
    const results = new Map<string, CopyResult>();
    await copyAllVerified(jobs, { owner: null, batch: 2 }, (job, result) => results.set(job.source, result));
    assert.equal(results.size, jobs.length, "a result for every job");
    for (const job of jobs) {
      const expected = contents.get(job.source)!;
      assert.deepEqual(results.get(job.source), { ok: true, sha256: sha(expected), size: expected.length });
      assert.equal(sha(fs.readFileSync(job.destination)), sha(expected));
      assert.equal(fs.statSync(job.destination).mode & 0o777, 0o600);
    }
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("never overwrites: a taken destination and a missing source each fail alone, with their codes; the rest is copied", async () => {
    const root = tempDir("cdagent-pool");
    for (const name of ["a", "b"]) fs.writeFileSync(path.join(root, name), name);
    fs.writeFileSync(path.join(root, "taken"), "keep me");
    const jobs = [
      { source: path.join(root, "a"), destination: path.join(root, "taken") },
      { source: path.join(root, "missing"), destination: path.join(root, "m2") },
      { source: path.join(root, "b"), destination: path.join(root, "b2") },
    ];
    const results: CopyResult[] = [];
    await copyAllVerified(jobs, { owner: null }, (_job, result) => results.push(result));
    assert.deepEqual(results.map((result) => (result.ok ? "ok" : result.code)), ["EEXIST", "ENOENT", "ok"]);
    assert.equal(fs.readFileSync(path.join(root, "taken"), "utf8"), "keep me");
    assert.equal(fs.existsSync(path.join(root, "m2")), false, "nothing created for a missing source");
    assert.equal(fs.readFileSync(path.join(root, "b2"), "utf8"), "b");
    fs.rmSync(root, { recursive: true, force: true });
  });
});

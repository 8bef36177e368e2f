// Without the analyzers: health names what is missing and answers 503; analyze answers 503 with a clear message, no stack trace.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { filesUnder, startServer, upload } from "../helpers/server-process.ts";

function interpreterWithoutTools(): string | null {
  for (const candidate of ["python3", "/usr/local/bin/python3", "/root/.pyenv/shims/python3"]) {
    try {
      const probe = execFileSync(candidate, ["-c", "import importlib.util as u; print(all(u.find_spec(m) is None for m in ('pylint','bandit','radon')))"], { encoding: "utf8" });
      if (probe.trim() === "True") return candidate;
    } catch {
      // not there
    }
  }
  return null;
}

const python = interpreterWithoutTools();

test("a server whose interpreter lacks the tools reports it in health and refuses analysis with 503", { skip: python ? false : "no Python interpreter without pylint/bandit/radon on this machine" }, async () => {
  const server = await startServer({ env: { ANALYZER_PYTHON: python! } });
  try {
    const health = await fetch(`${server.url}/api/health`);
    assert.equal(health.status, 503);
    const body = (await health.json()) as { status: string; checks: { analyzers: { ok: boolean; tools: Record<string, { ok: boolean; error?: string }> }; database: { ok: boolean } } };
    assert.equal(body.status, "unhealthy");
    assert.equal(body.checks.database.ok, true);
    assert.equal(body.checks.analyzers.ok, false);
    assert.match(body.checks.analyzers.tools.pylint!.error ?? "", /pylint/);
    const answer = await upload(server.url, "x.py", "x = 1\n");
    assert.equal(answer.status, 503);
    assert.match(answer.body.error, /^Analysis unavailable: .*(pylint|bandit|radon)/);
    assert.doesNotMatch(JSON.stringify(answer.body), /at .*\.ts:\d+/);
    assert.deepEqual(filesUnder(`${server.dataDir}/uploads`), []);
  } finally {
    await server.stop();
  }
});

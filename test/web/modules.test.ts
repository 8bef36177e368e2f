// Unit tests of the page's DOM-free modules (error messages, findings, text report), imported into Node as they are served.
import assert from "node:assert/strict";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../server/web");
// The page's modules are plain browser JavaScript (outside tsc); loaded through a computed URL they are typed `any`.
const load = (name: string): Promise<any> => import(pathToFileURL(path.join(WEB, name)).href);

const api = await load("api.js");
const findings = await load("findings.js");
const report = await load("report.js");

const RESULT = {
  filename: "demo.py",
  file_hash: "a".repeat(64),
  timestamp: "2026-01-02T03:04:05.000Z",
  score: 71,
  analysis: {
    quality_issues: [
      { type: "warning", symbol: "unused-import", message: "Unused import os", "message-id": "W0611", line: 1, column: 0 },
      { type: "convention", symbol: "missing-docstring", message: "Missing module docstring", "message-id": "C0114", line: 1, column: 0 },
    ],
    security_issues: [
      { test_id: "B404", test_name: "blacklist", issue_severity: "LOW", issue_confidence: "HIGH", issue_text: "subprocess imported", line_number: 2, code: "2 import subprocess\n", more_info: "https://bandit.readthedocs.io/en/latest/blacklists/blacklist_imports.html#b404-import-subprocess" },
      { test_id: "B602", test_name: "subprocess_popen_with_shell_equals_true", issue_severity: "HIGH", issue_confidence: "HIGH", issue_text: "shell=True", line_number: 9, code: "9 subprocess.call(x, shell=True)\n", more_info: "javascript:alert(1)" },
    ],
    complexity: {
      "demo.py": [
        { type: "method", name: "run", classname: "Job", rank: "C", complexity: 12, lineno: 20, endline: 40 },
        { type: "function", name: "main", rank: "A", complexity: 1, lineno: 5, endline: 8 },
      ],
    },
  },
  summary: { total_issues: 14, security_issues: 2, high_complexity_functions: 1 },
};

describe("error messages", () => {
  const realFetch = globalThis.fetch;
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  it("uses the server's error, ending as a sentence", () => {
    assert.equal(api.describeFailure(400, "Bad Request", { error: "Only .py files allowed" }, null), "Only .py files allowed.");
  });

  it("adds one short line of details, never a traceback", () => {
    assert.equal(api.describeFailure(500, "", { error: "Analysis failed", details: "pylint timed out after 20 s" }, null), "Analysis failed: pylint timed out after 20 s.");
    const traceback = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: boom';
    assert.equal(api.describeFailure(500, "", { error: "Analysis failed", details: traceback }, null), "Analysis failed.");
    assert.equal(api.describeFailure(500, "", { error: "Analysis failed", details: { code: 1 } }, null), "Analysis failed.");
  });

  it("says the server's message once: when to retry is the retry button's countdown", () => {
    assert.equal(api.describeFailure(503, "", { error: "Server busy: too many analyses waiting; try again shortly" }), "Server busy: too many analyses waiting; try again shortly.");
  });

  it("names the server's upload limit on a 413 without a body", () => {
    api.setMaxUploadBytes(2 * 1024 * 1024);
    assert.equal(api.describeFailure(413, "Payload Too Large", null), "The file is larger than the server accepts (2 MB).");
    api.setMaxUploadBytes(5 * 1024 * 1024);
  });

  it("never shows an object, and explains answers without a JSON body", () => {
    const nested = api.describeFailure(400, "Bad Request", { error: { reason: "x" } }, null);
    assert.ok(!nested.includes("[object"), nested);
    assert.equal(api.describeFailure(413, "Payload Too Large", null, null), "The file is larger than the server accepts (5 MB).");
    assert.equal(api.describeFailure(418, "I'm a teapot", null, null), "The server answered 418 I'm a teapot.");
  });

  it("turns fetch answers and failures into ApiError messages", async () => {
    const file = new File(["x = 1\n"], "a.py");
    globalThis.fetch = async () => new Response(JSON.stringify({ error: "Server busy: too many analyses waiting; try again shortly" }), { status: 503, headers: { "content-type": "application/json", "retry-after": "7" } });
    await assert.rejects(api.analyzeFile(file), (err: any) => {
      assert.equal(err.name, "ApiError");
      assert.equal(err.status, 503);
      assert.equal(err.retryAfter, 7);
      assert.equal(err.retryable, true);
      assert.equal(err.message, "Server busy: too many analyses waiting; try again shortly.");
      return true;
    });

    globalThis.fetch = async () => new Response("<html>Bad gateway</html>", { status: 502, statusText: "Bad Gateway", headers: { "content-type": "text/html" } });
    await assert.rejects(api.getStats(), { message: "The server is unreachable right now (bad gateway)." });

    globalThis.fetch = async () => {
      throw new TypeError("fetch failed");
    };
    await assert.rejects(api.getInfo(), { message: "Could not reach the server. Check your connection.", retryable: true });

    // Health answers 503 with its JSON body when unhealthy: that body is the answer, not an error.
    globalThis.fetch = async () => new Response(JSON.stringify({ status: "unhealthy", checks: {} }), { status: 503, headers: { "content-type": "application/json" } });
    assert.equal((await api.getHealth()).status, "unhealthy");
  });

  it("posts the file in the field named file", async () => {
    let sent: FormData | undefined;
    globalThis.fetch = async (_url: string | URL | Request, init?: RequestInit) => {
      sent = init?.body as FormData;
      return new Response(JSON.stringify({ score: 100 }), { status: 200, headers: { "content-type": "application/json" } });
    };
    assert.equal((await api.analyzeFile(new File(["x = 1\n"], "ok.py"))).score, 100);
    assert.equal((sent?.get("file") as File).name, "ok.py");
  });
});

describe("findings", () => {
  it("orders security issues by severity and names methods with their class", () => {
    assert.deepEqual(findings.securityIssues(RESULT).map((s: { testId: string }) => s.testId), ["B602", "B404"]);
    const { entries, errors } = findings.complexityEntries(RESULT);
    assert.deepEqual(entries.map((e: { name: string }) => e.name), ["main", "Job.run"]);
    assert.deepEqual(errors, []);
  });

  it("links every pylint message to its page and every bandit result to bandit's own documentation", () => {
    assert.deepEqual(findings.qualityIssues(RESULT).map((q: { docUrl: string }) => q.docUrl), [
      "https://pylint.readthedocs.io/en/stable/user_guide/messages/warning/unused-import.html",
      "https://pylint.readthedocs.io/en/stable/user_guide/messages/convention/missing-docstring.html",
    ]);
    assert.deepEqual(findings.securityIssues(RESULT).map((s: { docUrl: string }) => s.docUrl), [
      "https://bandit.readthedocs.io/en/latest/plugins/b602_subprocess_popen_with_shell_equals_true.html", // built: its more_info was not bandit's
      "https://bandit.readthedocs.io/en/latest/blacklists/blacklist_imports.html#b404-import-subprocess",
    ]);
    assert.equal(findings.pylintDocUrl("warning", "../../x"), null);
  });

  it("groups pylint messages by type, most severe first, counting those the server did not list", () => {
    const groups = findings.qualityGroups({ ...RESULT, summary: { ...RESULT.summary, quality_by_type: { warning: 4, convention: 10 } } });
    assert.deepEqual(groups.map((g: { type: string; count: number; issues: unknown[] }) => [g.type, g.count, g.issues.length]), [["warning", 4, 1], ["convention", 10, 1]]);
  });

  it("reads radon's error form and missing sections without throwing", () => {
    assert.deepEqual(findings.complexityEntries({ analysis: { complexity: { "x.py": { error: "invalid syntax (line 3)" } } } }), { entries: [], errors: ["invalid syntax (line 3)"] });
    assert.deepEqual(findings.complexityEntries({ analysis: { complexity: { error: "radon crashed" } } }).errors, ["radon crashed"]);
    assert.deepEqual(findings.qualityIssues({}), []);
    assert.deepEqual(findings.summaryCounts(null), { totalIssues: 0, securityIssues: 0, highComplexity: 0 });
  });
});

describe("text report", () => {
  it("holds the file, hash, timestamp, score, summary and every finding", () => {
    const text: string = report.buildReport(RESULT, new Date("2026-01-02T04:00:00Z"));
    for (const expected of [
      "File:       demo.py",
      `SHA-256:    ${"a".repeat(64)}`,
      "Analyzed:   2026-01-02T03:04:05.000Z",
      "Score:      71/100",
      "Quality issues (pylint):           14",
      "Quality issues (pylint), most severe first - first 2 of 14",
      "    How to fix: https://pylint.readthedocs.io/en/stable/user_guide/messages/warning/unused-import.html",
      "Line 1:0  [warning] W0611 unused-import: Unused import os",
      "Line 1:0  [convention] C0114 missing-docstring: Missing module docstring",
      "Line 9  B602 subprocess_popen_with_shell_equals_true  severity HIGH, confidence HIGH",
      "    How to fix: https://bandit.readthedocs.io/en/latest/blacklists/blacklist_imports.html#b404-import-subprocess",
      "    | 9 subprocess.call(x, shell=True)",
      "C  12  method Job.run (lines 20-40)",
      "A   1  function main (lines 5-8)",
    ]) {
      assert.ok(text.includes(expected), `report lacks ${JSON.stringify(expected)}:\n${text}`);
    }
  });

  it("says a file that could not be parsed is not scored, with pylint's line and message", () => {
    const text: string = report.buildReport({ ...RESULT, score: 97, parse_error: { message: "Parsing failed: 'invalid syntax'", line: 3, column: 7 } });
    assert.ok(text.includes("Score:      not scored: pylint could not parse the file (line 3: Parsing failed: 'invalid syntax')"), text);
  });

  it("says None for empty sections", () => {
    const text: string = report.buildReport({ filename: "clean.py", score: 100, analysis: { quality_issues: [], security_issues: [], complexity: { "clean.py": [] } }, summary: {} });
    assert.match(text, /Quality issues \(pylint\), most severe first\n-+\nNone\./);
    assert.match(text, /Security issues \(bandit\)\n-+\nNone\./);
    assert.match(text, /No functions, methods or classes\./);
  });

  it("names the download after the file", () => {
    assert.equal(report.reportFileName("demo.py"), "demo-report.txt");
    assert.equal(report.reportFileName("My Script.PY"), "My_Script-report.txt");
    assert.equal(report.reportFileName("C:\\fakepath\\x.py"), "x-report.txt");
    assert.equal(report.reportFileName("../../etc/passwd.py"), "passwd-report.txt");
    assert.equal(report.reportFileName(""), "analysis-report.txt");
    assert.equal(report.reportFileName(undefined), "analysis-report.txt");
  });
});

// The score and report fields follow the reference's formula, on fixed (hand-written) tool outputs.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { buildReport, QUALITY_ISSUES_LIMIT, type BanditResult, type PylintMessage, type RadonEntry, type ToolOutputs } from "../../server/analyzers/index.ts";

const load = <T>(name: string): T => JSON.parse(readFileSync(new URL(`./tool-outputs/${name}`, import.meta.url), "utf8")) as T;
const pylintMixed = load<PylintMessage[]>("pylint-mixed.json"); // 2 error + 1 fatal, 3 warning, 4 convention, 1 refactor, 1 info
const banditEveryLevel = load<BanditResult[]>("bandit-every-level.json");
const radonMixed = load<RadonEntry[]>("radon-mixed.json");
const radonError = load<{ error: string }>("radon-error.json");

const outputs = (parts: Partial<ToolOutputs>): ToolOutputs => ({ pylint: [], bandit: [], radon: [], ...parts });
const banditOne = (issue_severity: string, issue_confidence: string): BanditResult => ({ ...banditEveryLevel[0]!, issue_severity, issue_confidence });
const radonOne = (complexity: number): RadonEntry => ({ ...radonMixed[0]!, complexity });

describe("buildReport", () => {
  test("a file with no error, warning, security issue or complex block scores 100", () => {
    const report = buildReport(outputs({ pylint: pylintMixed.filter((m) => ["convention", "refactor", "info"].includes(m.type)), radon: [radonOne(10)] }), "clean.py");
    assert.equal(report.score, 100);
    assert.deepEqual(report.summary, { total_issues: 6, security_issues: 0, high_complexity_functions: 0, quality_by_type: { convention: 4, refactor: 1, info: 1 } });
  });

  test("pylint: each error and fatal costs 3, each warning 1, conventions, refactors and infos nothing", () => {
    assert.equal(buildReport(outputs({ pylint: pylintMixed }), "app.py").score, 100 - 3 * 3 - 3 * 1);
  });

  test("bandit: HIGH costs 8 (5 unless confidence is HIGH), MEDIUM 4 (2), LOW 1 whatever the confidence", () => {
    const cases: Array<[severity: string, confidence: string, cost: number]> = [
      ["HIGH", "HIGH", 8],
      ["HIGH", "MEDIUM", 5],
      ["HIGH", "LOW", 5],
      ["MEDIUM", "HIGH", 4],
      ["MEDIUM", "MEDIUM", 2],
      ["MEDIUM", "LOW", 2],
      ["LOW", "HIGH", 1],
      ["LOW", "LOW", 1],
    ];
    for (const [severity, confidence, cost] of cases) {
      assert.equal(buildReport(outputs({ bandit: [banditOne(severity, confidence)] }), "app.py").score, 100 - cost, `${severity}/${confidence}`);
    }
    assert.equal(buildReport(outputs({ bandit: banditEveryLevel }), "app.py").score, 100 - (8 + 5 + 5 + 4 + 2 + 1 + 1));
  });

  test("radon: each listed block over 15 costs 5, over 10 costs 2; 10 and below nothing", () => {
    for (const [complexity, cost] of [[10, 0], [11, 2], [15, 2], [16, 5], [40, 5]] as const) {
      assert.equal(buildReport(outputs({ radon: [radonOne(complexity)] }), "app.py").score, 100 - cost, `complexity ${complexity}`);
    }
  });

  test("radon: methods and classes count as radon lists them; closures nested in a function do not", () => {
    const report = buildReport(outputs({ radon: radonMixed }), "app.py");
    // tangled 16 (-5), Parser.parse 20 (-5), class Parser 12 (-2), branchy 11 (-2), at_the_limit 15 (-2); the closure of 30 is not counted
    assert.equal(report.score, 100 - 16);
    assert.equal(report.summary.high_complexity_functions, 5);
  });

  test("radon's error object costs nothing and is shown under the client's file name", () => {
    const report = buildReport(outputs({ radon: radonError }), "broken.py");
    assert.equal(report.score, 100);
    assert.deepEqual(report.analysis.complexity, { "broken.py": radonError });
    assert.equal(report.summary.high_complexity_functions, 0);
  });

  test("the score is clamped to 0 and stays an integer", () => {
    const many = Array.from({ length: 20 }, () => banditOne("HIGH", "HIGH"));
    const report = buildReport(outputs({ pylint: pylintMixed, bandit: many, radon: radonMixed }), "app.py");
    assert.equal(report.score, 0);
    assert.ok(Number.isInteger(buildReport(outputs({ pylint: pylintMixed, bandit: banditEveryLevel, radon: radonMixed }), "app.py").score));
  });

  test("everything together: the report's fields", () => {
    const report = buildReport(outputs({ pylint: pylintMixed, bandit: banditEveryLevel, radon: radonMixed }), "app.py");
    assert.equal(report.score, 100 - 12 - 26 - 16);
    assert.equal(report.analysis.quality_issues.length, 12, "every pylint message is listed");
    assert.deepEqual(new Set(report.analysis.quality_issues), new Set(pylintMixed));
    assert.deepEqual(report.analysis.security_issues, banditEveryLevel, "all bandit results");
    assert.deepEqual(report.analysis.complexity, { "app.py": radonMixed });
    assert.deepEqual(report.summary, {
      total_issues: 12,
      security_issues: 7,
      high_complexity_functions: 5,
      quality_by_type: { fatal: 1, error: 2, warning: 3, convention: 4, refactor: 1, info: 1 },
    });
    assert.equal(report.parse_error?.symbol, "parse-error", "the fixture's fatal parse-error (F0010) is a parse failure");
    assert.equal(buildReport(outputs({ pylint: pylintMixed.filter((m) => m.symbol !== "parse-error") }), "app.py").parse_error, null);
  });

  test("pylint messages are listed most severe first, then by line: errors before the conventions that pylint printed first", () => {
    const report = buildReport(outputs({ pylint: pylintMixed }), "app.py");
    const order = ["fatal", "error", "warning", "refactor", "convention", "info"];
    const listed = report.analysis.quality_issues;
    for (let i = 1; i < listed.length; i++) {
      const [a, b] = [listed[i - 1]!, listed[i]!];
      const byType = order.indexOf(a.type) - order.indexOf(b.type);
      assert.ok(byType < 0 || (byType === 0 && a.line <= b.line), `${a.type}:${a.line} before ${b.type}:${b.line}`);
    }
    assert.equal(listed[0]?.type, "fatal");
  });

  test("a pathological file lists the first QUALITY_ISSUES_LIMIT messages by severity, and counts them all", () => {
    const warning = pylintMixed.find((m) => m.type === "warning")!;
    const convention = pylintMixed.find((m) => m.type === "convention")!;
    const conventions = Array.from({ length: QUALITY_ISSUES_LIMIT + 200 }, (_, i) => ({ ...convention, line: i + 1 }));
    const warnings = Array.from({ length: 15 }, (_, i) => ({ ...warning, line: 5000 + i }));
    const report = buildReport(outputs({ pylint: [...conventions, ...warnings] }), "app.py");
    assert.equal(report.analysis.quality_issues.length, QUALITY_ISSUES_LIMIT);
    assert.deepEqual(report.analysis.quality_issues.slice(0, 15).map((m) => m.type), Array(15).fill("warning"), "the warnings printed last are listed first");
    assert.equal(report.summary.total_issues, QUALITY_ISSUES_LIMIT + 215);
    assert.deepEqual(report.summary.quality_by_type, { convention: QUALITY_ISSUES_LIMIT + 200, warning: 15 });
    assert.equal(report.score, 85, "the score counts every message");
  });

  test("a file pylint cannot parse carries pylint's message and line as parse_error", () => {
    const syntaxError: PylintMessage = {
      ...pylintMixed.find((m) => m.type === "error")!,
      symbol: "syntax-error",
      "message-id": "E0001",
      message: "Parsing failed: 'invalid syntax (<unknown>, line 3)'",
      line: 3,
      column: 7,
    };
    const report = buildReport(outputs({ pylint: [syntaxError], radon: { error: "invalid syntax (<unknown>, line 3)" } }), "broken.py");
    assert.deepEqual(report.parse_error, { message: syntaxError.message, line: 3, column: 7, symbol: "syntax-error" });
  });
});

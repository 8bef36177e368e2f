// The score and report fields follow the reference's formula, on fixed (hand-written) tool outputs.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import { buildReport, type BanditResult, type PylintMessage, type RadonEntry, type ToolOutputs } from "../../server/analyzers/index.ts";

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
    assert.deepEqual(report.summary, { total_issues: 6, security_issues: 0, high_complexity_functions: 0 });
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
    assert.deepEqual(report.analysis.quality_issues, pylintMixed.slice(0, 10), "the first 10 pylint messages, in order");
    assert.equal(pylintMixed.length, 12);
    assert.deepEqual(report.analysis.security_issues, banditEveryLevel, "all bandit results");
    assert.deepEqual(report.analysis.complexity, { "app.py": radonMixed });
    assert.deepEqual(report.summary, { total_issues: 12, security_issues: 7, high_complexity_functions: 5 });
  });

  test("the score counts pylint messages beyond the 10 shown", () => {
    const warnings = Array.from({ length: 15 }, () => pylintMixed.find((m) => m.type === "warning")!);
    const report = buildReport(outputs({ pylint: warnings }), "app.py");
    assert.equal(report.analysis.quality_issues.length, 10);
    assert.equal(report.summary.total_issues, 15);
    assert.equal(report.score, 85);
  });
});

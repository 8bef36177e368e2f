// The 0-100 score and the report fields, from the three tools' outputs (pure; the reference's formula).
import type { BanditResult, PylintMessage, RadonEntry, ToolOutputs } from "./types.ts";

export interface AnalysisReport {
  score: number;
  analysis: {
    quality_issues: PylintMessage[];
    security_issues: BanditResult[];
    complexity: Record<string, RadonEntry[] | { error: string }>;
  };
  summary: { total_issues: number; security_issues: number; high_complexity_functions: number };
}

/** How many pylint messages the report shows; the score counts them all. */
export const SHOWN_QUALITY_ISSUES = 10;

function pylintPenalty(message: PylintMessage): number {
  if (message.type === "error" || message.type === "fatal") return 3;
  if (message.type === "warning") return 1;
  return 0; // convention, refactor, info
}

function banditPenalty(result: BanditResult): number {
  const sureOfIt = result.issue_confidence.toUpperCase() === "HIGH";
  switch (result.issue_severity.toUpperCase()) {
    case "HIGH":
      return sureOfIt ? 8 : 5;
    case "MEDIUM":
      return sureOfIt ? 4 : 2;
    case "LOW":
      return 1;
    default:
      return 0;
  }
}

/** The blocks radon lists for the file (functions, methods, classes); closures nested in them are not counted. */
function radonBlocks(radon: ToolOutputs["radon"]): RadonEntry[] {
  return Array.isArray(radon) ? radon : [];
}

function complexityPenalty(block: RadonEntry): number {
  if (block.complexity > 15) return 5;
  if (block.complexity > 10) return 2;
  return 0;
}

const sum = <T>(items: readonly T[], penalty: (item: T) => number): number =>
  items.reduce((total, item) => total + penalty(item), 0);

export function buildReport(outputs: ToolOutputs, filename: string): AnalysisReport {
  const blocks = radonBlocks(outputs.radon);
  const deductions = sum(outputs.pylint, pylintPenalty) + sum(outputs.bandit, banditPenalty) + sum(blocks, complexityPenalty);
  return {
    score: Math.max(0, Math.min(100, 100 - deductions)),
    analysis: {
      quality_issues: outputs.pylint.slice(0, SHOWN_QUALITY_ISSUES),
      security_issues: outputs.bandit,
      complexity: { [filename]: outputs.radon },
    },
    summary: {
      total_issues: outputs.pylint.length,
      security_issues: outputs.bandit.length,
      high_complexity_functions: blocks.filter((block) => block.complexity > 10).length,
    },
  };
}

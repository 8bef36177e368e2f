// The 0-100 score and the report fields, from the three tools' outputs (pure; the reference's formula).
import type { BanditResult, PylintMessage, RadonEntry, ToolOutputs } from "./types.ts";

/** Where pylint says it could not parse the file: its message and line, shown instead of a quality band. */
export interface ParseError {
  message: string;
  line: number | null;
  column: number | null;
  symbol: string;
}

export interface AnalysisReport {
  score: number;
  /** Set when pylint could not parse the file: then the score counts only that one message and says nothing of quality. */
  parse_error: ParseError | null;
  analysis: {
    /** Every pylint message, most severe first then by line, up to QUALITY_ISSUES_LIMIT. */
    quality_issues: PylintMessage[];
    security_issues: BanditResult[];
    complexity: Record<string, RadonEntry[] | { error: string }>;
  };
  summary: {
    total_issues: number;
    security_issues: number;
    high_complexity_functions: number;
    /** Count of every pylint message per type (fatal, error, warning, refactor, convention, info), listed or not. */
    quality_by_type: Record<string, number>;
  };
}

/**
 * How many pylint messages the answer lists at most: a pathological file (thousands of messages) would otherwise
 * make an answer of megabytes. The most severe come first, so what is cut off is conventions and refactors;
 * `summary.total_issues` and `summary.quality_by_type` count them all, and the score counts them all.
 */
export const QUALITY_ISSUES_LIMIT = 1000;

/** pylint's message types, most severe first: the order of the list and of the page's groups. */
export const PYLINT_TYPE_ORDER = ["fatal", "error", "warning", "refactor", "convention", "info"] as const;

/**
 * pylint's messages that mean it could not parse the file. Not astroid-error (F0002): that is pylint crashing on a
 * file Python reads well (e.g. a very long expression); its other findings still stand.
 */
const PARSE_FAILURES = new Set(["syntax-error", "parse-error"]);

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

const typeRank = (type: string): number => {
  const rank = (PYLINT_TYPE_ORDER as readonly string[]).indexOf(type);
  return rank === -1 ? PYLINT_TYPE_ORDER.length : rank;
};

/** Most severe first, then by line and column; pylint's own order among equals (the sort is stable). */
export function orderQualityIssues(messages: readonly PylintMessage[]): PylintMessage[] {
  return [...messages].sort((a, b) => typeRank(a.type) - typeRank(b.type) || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

function countByType(messages: readonly PylintMessage[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const message of messages) counts[message.type] = (counts[message.type] ?? 0) + 1;
  return counts;
}

function parseError(messages: readonly PylintMessage[]): ParseError | null {
  const failure = messages.find((m) => PARSE_FAILURES.has(m.symbol));
  if (!failure) return null;
  return { message: failure.message, line: failure.line ?? null, column: failure.column ?? null, symbol: failure.symbol };
}

export function buildReport(outputs: ToolOutputs, filename: string): AnalysisReport {
  const blocks = radonBlocks(outputs.radon);
  const deductions = sum(outputs.pylint, pylintPenalty) + sum(outputs.bandit, banditPenalty) + sum(blocks, complexityPenalty);
  return {
    score: Math.max(0, Math.min(100, 100 - deductions)),
    parse_error: parseError(outputs.pylint),
    analysis: {
      quality_issues: orderQualityIssues(outputs.pylint).slice(0, QUALITY_ISSUES_LIMIT),
      security_issues: outputs.bandit,
      complexity: { [filename]: outputs.radon },
    },
    summary: {
      total_issues: outputs.pylint.length,
      security_issues: outputs.bandit.length,
      high_complexity_functions: blocks.filter((block) => block.complexity > 10).length,
      quality_by_type: countByType(outputs.pylint),
    },
  };
}

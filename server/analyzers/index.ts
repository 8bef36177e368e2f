// Public interface of the analyzers: a pool of warm pylint/bandit/radon processes, its errors, and the report.
export { createAnalyzerPool } from "./pool.ts";
export {
  AnalyzerFailedError,
  AnalyzerLimitError,
  AnalyzerMemoryError,
  AnalyzerOverloadedError,
  AnalyzerTimeoutError,
  AnalyzerUnavailableError,
  ClientPenaltyError,
  QueueFullError,
  RecentlyTimedOutError,
} from "./errors.ts";
export { TimeoutMemory } from "./timeout-memory.ts";
export { buildReport, QUALITY_ISSUES_LIMIT, type AnalysisReport, type ParseError } from "./score.ts";
export { toolFileName } from "./tool-file-name.ts";
export type {
  AnalyzeInput,
  AnalyzerLogger,
  AnalyzerPool,
  AnalyzerPoolOptions,
  AnalyzerStatus,
  BanditResult,
  PylintMessage,
  RadonEntry,
  ToolName,
  ToolOutputs,
  ToolStatus,
} from "./types.ts";

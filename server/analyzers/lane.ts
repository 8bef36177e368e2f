// One lane: a warm pylint, a warm bandit and a warm radon process that analyse one file at a time, all three at once.
import { AnalyzerFailedError, AnalyzerLimitError, AnalyzerMemoryError, AnalyzerOverloadedError, AnalyzerTimeoutError, AnalyzerUnavailableError } from "./errors.ts";
import { ToolWorker, type JobLimits, type ToolRun, type ToolWorkerOptions } from "./tool-worker.ts";
import { TOOL_NAMES, type AnalyzerLogger, type AnalyzeInput, type ToolName, type ToolOutputs } from "./types.ts";

export interface LaneResult {
  outputs: ToolOutputs;
  runs: Record<ToolName, ToolRun>;
}

function checkShape(tool: ToolName, result: unknown): void {
  const isErrorObject = typeof result === "object" && result !== null && typeof (result as { error?: unknown }).error === "string";
  if (Array.isArray(result) || (tool === "radon" && isErrorObject)) return;
  throw new AnalyzerFailedError(`${tool} gave output that is not what its command line prints`);
}

export class Lane {
  readonly workers: Record<ToolName, ToolWorker>;

  constructor(options: Omit<ToolWorkerOptions, "tool">) {
    this.workers = {
      pylint: new ToolWorker({ ...options, tool: "pylint" }),
      bandit: new ToolWorker({ ...options, tool: "bandit" }),
      radon: new ToolWorker({ ...options, tool: "radon" }),
    };
  }

  /** Starts and warms the three processes; one result per tool, in TOOL_NAMES order. */
  start(): Promise<PromiseSettledResult<void>[]> {
    return Promise.allSettled(TOOL_NAMES.map((tool) => this.workers[tool].start()));
  }

  /**
   * Runs the three tools concurrently on one file. Fails when any tool fails, naming every tool that did; the file's
   * own limits (memory, then CPU time) come first, then a busy machine, a failure, an unavailable tool.
   */
  async analyze(input: AnalyzeInput, fileName: string, limits: JobLimits): Promise<LaneResult> {
    const settled = await Promise.allSettled(TOOL_NAMES.map(async (tool) => {
      const run = await this.workers[tool].run(input.source ?? Buffer.from(input.code, "utf8"), fileName, limits);
      checkShape(tool, run.result);
      return run;
    }));
    const failures = settled.flatMap((outcome) => (outcome.status === "rejected" ? [outcome.reason as Error] : []));
    if (failures.length > 0) {
      const failed = failures.find((error) => !(error instanceof AnalyzerUnavailableError));
      const message = failures.map((error) => error.message).join("; ");
      const limit = failures.find((error) => error instanceof AnalyzerLimitError);
      if (limit instanceof AnalyzerMemoryError) throw new AnalyzerMemoryError(message);
      if (limit) throw new AnalyzerTimeoutError(message);
      if (failures.some((error) => error instanceof AnalyzerOverloadedError)) throw new AnalyzerOverloadedError(message);
      if (failed) throw new AnalyzerFailedError(message);
      throw new AnalyzerUnavailableError(message, failures.map((error) => (error as AnalyzerUnavailableError).publicMessage).join("; "));
    }
    const [pylint, bandit, radon] = settled.map((outcome) => (outcome as PromiseFulfilledResult<ToolRun>).value) as [ToolRun, ToolRun, ToolRun];
    return {
      outputs: { pylint: pylint.result, bandit: bandit.result, radon: radon.result } as ToolOutputs,
      runs: { pylint, bandit, radon },
    };
  }

  /** Whether one of its processes is being replaced after a failed attempt (it would refuse a job now). */
  restarting(): boolean {
    return TOOL_NAMES.some((tool) => this.workers[tool].condition().state === "restarting");
  }

  stop(): Promise<void> {
    return Promise.all(TOOL_NAMES.map((tool) => this.workers[tool].stop())).then(() => {});
  }
}

// Turns a received upload into the answer the client gets: from the database when the content is known, else analysed and stored.
import type { Logger } from "pino";
import { buildReport, toolFileName, type AnalyzerPool, type ToolOutputs } from "./analyzers/index.ts";
import type { Store } from "./store/store.ts";
import type { FileStore } from "./uploads/file-store.ts";
import type { ReceivedUpload } from "./uploads/receive.ts";

export interface AnalysisAnswer {
  filename: string;
  file_hash: string;
  timestamp: string;
  score: number;
  original_code: string;
  analysis: {
    quality_issues: Array<Record<string, unknown>>;
    security_issues: Array<Record<string, unknown>>;
    complexity: Record<string, unknown>;
  };
  summary: { total_issues: number; security_issues: number; high_complexity_functions: number };
  cached: boolean;
}

export interface AnalysisService {
  analyze(upload: ReceivedUpload): Promise<AnalysisAnswer>;
}

/** A stored answer shown under the name this client gave the same content, as the tools would name it. */
function asUploadedBy(stored: AnalysisAnswer, filename: string, timestamp: string): AnalysisAnswer {
  const shown = toolFileName(filename);
  const module = shown.replace(/\.py$/i, "");
  const complexity = Object.values(stored.analysis.complexity)[0] ?? [];
  return {
    ...stored,
    filename,
    timestamp,
    cached: true,
    analysis: {
      quality_issues: stored.analysis.quality_issues.map((issue) => ({ ...issue, path: shown, module })),
      security_issues: stored.analysis.security_issues.map((issue) => ({ ...issue, filename: shown })),
      complexity: { [shown]: complexity },
    },
  };
}

export function createAnalysisService(deps: { store: Store; files: FileStore; analyzers: AnalyzerPool; logger: Logger }): AnalysisService {
  const { store, files, analyzers, logger } = deps;
  /** Analyses of the same content already running in this process: joined, not repeated. */
  const inFlight = new Map<string, Promise<ToolOutputs>>();

  const runTools = (upload: ReceivedUpload): Promise<ToolOutputs> => {
    const key = `${upload.sha256}\0${upload.filename}`;
    let running = inFlight.get(key);
    if (!running) {
      running = analyzers.analyze({ code: upload.code, filename: upload.filename }).finally(() => inFlight.delete(key));
      inFlight.set(key, running);
    }
    return running;
  };

  return {
    async analyze(upload) {
      const timestamp = new Date().toISOString();
      const repeat = await store.recordRepeat(upload.sha256, timestamp);
      if (repeat) return asUploadedBy(JSON.parse(repeat.resultJson) as AnalysisAnswer, upload.filename, timestamp);

      const report = buildReport(await runTools(upload), toolFileName(upload.filename));
      const answer: AnalysisAnswer = {
        filename: upload.filename,
        file_hash: upload.sha256,
        timestamp,
        score: report.score,
        original_code: upload.code,
        analysis: report.analysis as AnalysisAnswer["analysis"],
        summary: report.summary,
        cached: false,
      };
      const file = await files.put(upload.sha256, upload.bytes);
      try {
        await store.recordAnalysis(
          {
            fileHash: upload.sha256,
            timestamp,
            score: report.score,
            totalIssues: report.summary.total_issues,
            securityIssues: report.summary.security_issues,
            complexityIssues: report.summary.high_complexity_functions,
          },
          JSON.stringify(answer),
        );
      } catch (error) {
        if (file === "created") await files.remove(upload.sha256).catch((cause) => logger.warn({ err: cause }, "could not remove an unrecorded upload"));
        throw error;
      }
      return answer;
    },
  };
}

// Turns a received upload into the answer the client gets: from the database when the same content was analysed under the same name, else analysed and stored.
import type { Logger } from "pino";
import {
  AnalyzerLimitError,
  AnalyzerMemoryError,
  buildReport,
  ClientPenaltyError,
  RecentlyTimedOutError,
  toolFileName,
  type AnalysisReport,
  type AnalyzerPool,
  type ParseError,
  type TimeoutMemory,
  type ToolOutputs,
} from "./analyzers/index.ts";
import type { Store } from "./store/store.ts";
import type { FileStore } from "./uploads/file-store.ts";
import type { ReceivedUpload } from "./uploads/receive.ts";

export interface AnalysisAnswer {
  filename: string;
  file_hash: string;
  timestamp: string;
  score: number;
  /** pylint could not parse the file: its message and line (the score then says nothing of quality). */
  parse_error: ParseError | null;
  original_code: string;
  analysis: {
    quality_issues: Array<Record<string, unknown>>;
    security_issues: Array<Record<string, unknown>>;
    complexity: Record<string, unknown>;
  };
  summary: AnalysisReport["summary"];
  cached: boolean;
}

/**
 * The answer as stored: everything but the code, which is in uploads/<sha256>.py already. Kept out of the row because
 * in JSON a control character takes six bytes: a 5 MiB file made a 31.5 MB row, parsed again on every repeat.
 */
export type StoredAnswer = Omit<AnalysisAnswer, "original_code">;

export interface AnalysisService {
  /** client: who asked (its fair share of the analyzers is counted under it). The code goes with it from the upload. */
  analyze(upload: ReceivedUpload, client?: string): Promise<StoredAnswer>;
}

/** A stored result read back; a row written by an earlier version may still hold the code: it is dropped here. */
export function parseStoredAnswer(resultJson: string): StoredAnswer {
  const { original_code: _code, ...answer } = JSON.parse(resultJson) as AnalysisAnswer;
  return answer;
}

/** A stored answer given again for the same content under the same tool name: only its time and the flag change. */
function asRepeat(stored: StoredAnswer, filename: string, timestamp: string): StoredAnswer {
  return { ...stored, filename, timestamp, cached: true };
}

/**
 * Whether a stored answer is what a fresh analysis of the same content under `filename` would give: pylint's
 * findings depend on the module name (`import-self`, `invalid-name`...), so only the same name the tools see
 * qualifies; bandit and radon read the code under a fixed name and do not depend on it.
 */
function answersFor(stored: StoredAnswer, filename: string): boolean {
  return toolFileName(stored.filename) === toolFileName(filename);
}

export interface AnalysisServiceDeps {
  store: Store;
  files: FileStore;
  analyzers: AnalyzerPool;
  logger: Logger;
  /** Contents that ran into the time limit, refused at once for a while. */
  timeouts: TimeoutMemory;
}

export function createAnalysisService(deps: AnalysisServiceDeps): AnalysisService {
  const { store, files, analyzers, logger, timeouts } = deps;
  /** Analyses of the same content already running in this process: joined, not repeated. */
  const inFlight = new Map<string, Promise<ToolOutputs>>();

  const runTools = (upload: ReceivedUpload, client: string): Promise<ToolOutputs> => {
    // the same content under the same tool name gives the same findings: joined
    const key = `${upload.sha256}\0${toolFileName(upload.filename)}`;
    let running = inFlight.get(key);
    if (!running) {
      running = analyzers
        .analyze({ code: upload.code, source: upload.bytes, filename: upload.filename, client })
        .catch((error: unknown) => {
          // the file ran into a limit (CPU time, memory): it, its near-duplicates and its client are remembered
          if (error instanceof AnalyzerLimitError) timeouts.remember(upload.sha256, upload.code, client, error instanceof AnalyzerMemoryError ? "memory" : "time");
          throw error;
        })
        .finally(() => inFlight.delete(key));
      inFlight.set(key, running);
    }
    return running;
  };

  const refuseIfTimedOut = (upload: ReceivedUpload): void => {
    const refusal = timeouts.refusal(upload.sha256, upload.code);
    if (refusal !== null) {
      throw new RecentlyTimedOutError(
        `This file (or one differing from it only in comments and blank lines) ran into the ${refusal.limit} limit a short while ago; it is not analysed again for ${refusal.seconds} s (shorten or simplify the file)`,
        refusal.seconds,
      );
    }
  };

  const refuseIfPenalized = (client: string): void => {
    const wait = timeouts.clientWait(client);
    if (wait !== null) {
      throw new ClientPenaltyError(
        `${wait.strikes} of your recent files ran into the analyzers' time or memory limit; your next new analysis is accepted in ${wait.seconds} s (others are being served)`,
        wait.seconds,
      );
    }
  };

  return {
    async analyze(upload, client = "") {
      refuseIfTimedOut(upload);
      const known = await store.findResult(upload.sha256);
      const stored = known ? parseStoredAnswer(known.resultJson) : null;
      if (known && stored && answersFor(stored, upload.filename)) {
        const timestamp = new Date().toISOString();
        const repeat = await store.recordRepeat(upload.sha256, timestamp);
        // the row read once: parsed again only if another process replaced it in between (then it may be analysed below)
        const current = repeat === null ? null : repeat.resultJson === known.resultJson ? stored : parseStoredAnswer(repeat.resultJson);
        if (current && answersFor(current, upload.filename)) return asRepeat(current, upload.filename, timestamp);
      }

      refuseIfPenalized(client);
      const report = buildReport(await runTools(upload, client), toolFileName(upload.filename));
      const timestamp = new Date().toISOString();
      const answer: StoredAnswer = {
        filename: upload.filename,
        file_hash: upload.sha256,
        timestamp,
        score: report.score,
        parse_error: report.parse_error,
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

// The analyzers' errors, one class per answer the server gives (503 busy, 503 unavailable, 500 failed, 422 time or memory limit, 429 penalty).

/** Every lane is busy and the waiting queue is full: answer 503 with Retry-After. */
export class QueueFullError extends Error {
  override name = "QueueFullError";
}

/** The interpreter or a tool is missing (the message says which), or the pool is closed: answer 503. */
export class AnalyzerUnavailableError extends Error {
  override name = "AnalyzerUnavailableError";
  /** What a client is told: which tool cannot run, without the server's paths or the tools' output (those are logged). */
  readonly publicMessage: string;
  constructor(message: string, publicMessage?: string) {
    super(message);
    this.publicMessage = publicMessage ?? message;
  }
}

/** A tool timed out or crashed on this file (the message names the tool): answer 500 "Analysis failed". */
export class AnalyzerFailedError extends Error {
  override name = "AnalyzerFailedError";
}

/** The file itself needed more than a limit (time in CPU, memory): the content and its client are remembered: answer 422. */
export class AnalyzerLimitError extends AnalyzerFailedError {
  override name = "AnalyzerLimitError";
}

/** A tool used its whole time limit in CPU on this file: the content is remembered and refused for a while. */
export class AnalyzerTimeoutError extends AnalyzerLimitError {
  override name = "AnalyzerTimeoutError";
}

/** A tool ran into its memory ceiling (address space) on this file: remembered like a timeout. */
export class AnalyzerMemoryError extends AnalyzerLimitError {
  override name = "AnalyzerMemoryError";
}

/**
 * A tool reached the wall-clock cap without having spent the time limit in CPU: the machine was busy with other work
 * (another client's heavy file), so the file is not blamed, not remembered: answer 503 with Retry-After.
 */
export class AnalyzerOverloadedError extends Error {
  override name = "AnalyzerOverloadedError";
}

/** A refusal that says when to try again (its answer carries Retry-After). */
abstract class RetryLaterError extends Error {
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** This client's recent files kept running into the limits: its next new analysis waits (429 with Retry-After). */
export class ClientPenaltyError extends RetryLaterError {
  override name = "ClientPenaltyError";
}

/** This content (or a near-duplicate) ran into a limit a short while ago and is refused without being analysed again: answer 422. */
export class RecentlyTimedOutError extends RetryLaterError {
  override name = "RecentlyTimedOutError";
}

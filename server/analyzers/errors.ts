// The analyzers' errors, one class per answer the server gives (503 busy, 503 unavailable, 500 failed, 422 time limit).

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

/** A tool ran into its time limit on this file: the content is remembered and refused for a while. */
export class AnalyzerTimeoutError extends AnalyzerFailedError {
  override name = "AnalyzerTimeoutError";
}

/** This content ran into the time limit a short while ago and is refused without being analysed again: answer 422. */
export class RecentlyTimedOutError extends Error {
  override name = "RecentlyTimedOutError";
  readonly retryAfterSeconds: number;
  constructor(message: string, retryAfterSeconds: number) {
    super(message);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

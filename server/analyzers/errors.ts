// The analyzers' errors, one class per answer the server gives (503 busy, 503 unavailable, 500 failed).

/** Every lane is busy and the waiting queue is full: answer 503 with Retry-After. */
export class QueueFullError extends Error {
  override name = "QueueFullError";
}

/** The interpreter or a tool is missing (the message says which), or the pool is closed: answer 503. */
export class AnalyzerUnavailableError extends Error {
  override name = "AnalyzerUnavailableError";
}

/** A tool timed out or crashed on this file (the message names the tool): answer 500 "Analysis failed". */
export class AnalyzerFailedError extends Error {
  override name = "AnalyzerFailedError";
}

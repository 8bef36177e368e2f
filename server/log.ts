// The server's logger: pino, one JSON line per event, never the uploaded code.
import pino, { type Logger } from "pino";

export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: "codedetect" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: ["original_code", "code", "*.original_code", "*.code", "email", "*.email"], censor: "[redacted]" },
  });
}

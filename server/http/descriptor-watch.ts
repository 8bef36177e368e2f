// Out of file descriptors, the kernel-side accept trick of libuv resets new connections without a word: this watch says so in the log, at most once a minute, and when it is over.
import { readdirSync, readFileSync } from "node:fs";
import type { Logger } from "pino";

/** Descriptors kept in reserve: at fewer free than this, new connections and analyzer processes start failing. */
const LOW_WATER = 16;
const CHECK_EVERY_MS = 1_000;
const LOG_EVERY_MS = 60_000;

/** The soft limit on open files ("Max open files" of /proc/self/limits), or null when unknown or unlimited. */
export function openFilesLimit(limits = "/proc/self/limits"): number | null {
  try {
    const line = readFileSync(limits, "utf8").split("\n").find((l) => l.startsWith("Max open files"));
    const soft = Number(line?.split(/\s{2,}/)[1]);
    return Number.isFinite(soft) ? soft : null;
  } catch {
    return null;
  }
}

/** Descriptors open now; "exhausted" when even listing them fails for want of one. */
export function openDescriptors(): number | "exhausted" | null {
  try {
    return readdirSync("/proc/self/fd").length;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === "EMFILE" || code === "ENFILE" ? "exhausted" : null;
  }
}

export interface DescriptorWatch {
  /** For an error the server itself sees (an accept or spawn failing with EMFILE): logged under the same rate limit. */
  report(error: NodeJS.ErrnoException, what: string): void;
  stop(): void;
}

export function watchDescriptors(logger: Logger, now: () => number = Date.now): DescriptorWatch {
  const limit = openFilesLimit();
  let lastLogged = -Infinity;
  let short = false;
  let missed = 0;
  const warn = (detail: Record<string, unknown>, message: string) => {
    missed++;
    if (now() - lastLogged < LOG_EVERY_MS) return;
    logger.error({ ...detail, limit, events_since_last_line: missed }, message);
    lastLogged = now();
    missed = 0;
  };
  const check = () => {
    const open = openDescriptors();
    const exhausted = open === "exhausted" || (typeof open === "number" && limit !== null && limit - open < LOW_WATER);
    if (exhausted) {
      short = true;
      warn({ open }, "out of file descriptors: new connections are reset without an answer and analyzers cannot be replaced until some are closed");
    } else if (short) {
      short = false;
      logger.info({ open, limit }, "file descriptors available again");
    }
  };
  const timer = setInterval(check, CHECK_EVERY_MS);
  timer.unref();
  return {
    report(error, what) {
      short = true;
      warn({ err: error.message, code: error.code }, `out of file descriptors: ${what}`);
    },
    stop: () => clearInterval(timer),
  };
}

// Graceful shutdown: on SIGTERM health turns 503 at once, requests are served for the drain period, then the listener closes.
import type { Server } from "node:http";
import net from "node:net";
import pino, { type Logger } from "pino";

export interface LifecycleOptions {
  server: Server;
  logger: Logger;
  drainMs: number;
  /** After the listener closed, how long in-flight requests may take before their connections are cut. */
  inFlightGraceMs: number;
  /** Releases everything else (analyzers, database) once no request is left. */
  release: () => Promise<void>;
  exit: (code: number) => void;
}

export interface Lifecycle {
  /** Health answers 503: a stop with a drain period (SIGTERM, SIGINT). */
  isDraining(): boolean;
  /** Responses carry Connection: close: any stop, a handover included. */
  isLeaving(): boolean;
  /**
   * `handover`: another version serves the same port (REUSE_PORT) and this one leaves it. Health stays 200 (the instance
   * does not go away), responses close their connections during `drainMs`, so that clients reconnect (to the listener
   * that stays) before the idle ones are closed; then the listener closes and in-flight requests finish as in any stop.
   */
  shutdown(reason: string, drainMs?: number, handover?: boolean): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** How long a handover leaves idle keep-alive connections to their clients (a busy client's next request closes one cleanly; an idle one's own timeout, 4 s in Node's fetch, ends it) before closing the rest. */
const HANDOVER_IDLE_MS = 5000;

export function createLifecycle(options: LifecycleOptions): Lifecycle {
  const { server, logger } = options;
  let draining = false;
  let leaving = false;
  let skipDrain: (() => void) | null = null;
  let done: Promise<void> | null = null;

  const run = async (reason: string, drainMs: number, handover: boolean): Promise<void> => {
    draining = !handover;
    leaving = true;
    if (handover) logger.info({ reason, handover_ms: drainMs }, "handing the port over: responses close their connections, health stays up");
    else logger.info({ reason, drain_ms: drainMs }, "draining: health now answers 503, requests are still served");
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, drainMs);
      skipDrain = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    logger.info("closing the listener; waiting for in-flight requests");
    // http.Server#close also closes idle keep-alive connections at once, racing a client that is reusing one (a reset it
    // sees as a failed request). In a handover only the listener stops (net.Server#close): a client's next request on an
    // idle connection is answered with Connection: close, and only connections still idle after HANDOVER_IDLE_MS are closed.
    const closed = new Promise<void>((resolve) => (handover ? net.Server.prototype.close.call(server, () => resolve()) : server.close(() => resolve())));
    if (handover) await Promise.race([closed, sleep(HANDOVER_IDLE_MS)]);
    server.closeIdleConnections();
    const outcome = await Promise.race([closed.then(() => "finished" as const), sleep(options.inFlightGraceMs).then(() => "cut" as const)]);
    if (outcome === "cut") {
      logger.warn({ grace_ms: options.inFlightGraceMs }, "in-flight requests outlived the grace period; closing their connections");
      server.closeAllConnections();
    }
    await options.release();
    logger.info("stopped");
    options.exit(0);
  };

  return {
    isDraining: () => draining,
    isLeaving: () => leaving,
    shutdown(reason, drainMs = options.drainMs, handover = false) {
      if (done) {
        // `docker stop` follows a handover's signal at once: the short handover runs to its end
        if (leaving && !draining) return done;
        logger.info({ reason }, "second stop signal: ending the drain period now");
        skipDrain?.();
        return done;
      }
      done = run(reason, drainMs, handover);
      return done;
    },
  };
}

interface LogStream {
  end?: () => void;
  once?: (event: "close" | "error", listener: () => void) => unknown;
  destroyed?: boolean;
}

/**
 * Ends the process once its last log lines are written. pino's flush(cb) calls back at once while a write is
 * still under way (its stream has minLength 0), so a process.exit there could drop the last lines ("stopped");
 * ending the stream writes what is buffered, waits for the write in progress and then emits "close".
 */
export function exitAfterLog(logger: Logger, code: number, deadlineMs = 2000): void {
  const stream = (logger as unknown as Record<symbol, LogStream | undefined>)[pino.symbols.streamSym];
  if (!stream?.end || !stream.once || stream.destroyed) process.exit(code);
  const exit = () => process.exit(code);
  setTimeout(exit, deadlineMs); // a stream that cannot be written (stdout closed) does not hold the exit
  stream.once("close", exit);
  stream.once("error", exit);
  stream.end();
}

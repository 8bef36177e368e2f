// A health probe run at most once at a time: polled for a moment, never waited on, so a hung volume cannot stall health.

export type ProbeOutcome = { ok: true } | { ok: false; error: string };

export interface ProbePoll {
  /** How the last finished run ended; null before any finished. */
  outcome: ProbeOutcome | null;
  /** How long the run in flight has been going, when one is still going after the poll's wait. */
  pendingForMs: number | null;
}

export interface Probe {
  /** Starts a run unless one is in flight, waits for it at most `waitMs`, and says how things stand. */
  poll(waitMs: number): Promise<ProbePoll>;
}

export function createProbe(run: () => Promise<void>): Probe {
  let outcome: ProbeOutcome | null = null;
  let inFlight: { since: number; done: Promise<void> } | null = null;

  return {
    async poll(waitMs) {
      if (!inFlight) {
        const since = Date.now();
        const done = run().then(
          () => {
            outcome = { ok: true };
          },
          (error: Error) => {
            outcome = { ok: false, error: error.message };
          },
        );
        inFlight = { since, done: done.finally(() => (inFlight = null)) };
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([inFlight.done, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
      clearTimeout(timer);
      return { outcome, pendingForMs: inFlight ? Date.now() - inFlight.since : null };
    },
  };
}

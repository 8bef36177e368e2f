// Test hook for the crash-consistency proof: BOOTSTRAP_CRASH_AFTER=N makes the agent kill itself (SIGKILL) at its Nth crash point.
let passed = 0;
const limit = Number(process.env.BOOTSTRAP_CRASH_AFTER ?? "0");

/** A point where a kill -9 must leave the world recoverable: after each file copied or moved, each commit record, each step. */
export function crashPoint(): void {
  if (!(limit > 0)) return;
  passed += 1;
  if (passed >= limit) process.kill(process.pid, "SIGKILL");
}

/** How many crash points this process has passed (reported so a test can pick kill points across the whole run). */
export function crashPointsPassed(): number {
  return passed;
}

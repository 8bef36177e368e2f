// Files that ran into the analyzers' limits, remembered for a while: the content (and its near-duplicates) is refused at once, and a client whose files keep doing it waits longer and longer before its next new analysis.
import { createHash } from "node:crypto";

const MAX_REMEMBERED = 10_000;

/**
 * The content as the tools' cost sees it: without comments, blank lines and indentation changes. A comment added to
 * a costly file (or spaces at line ends) gives the same fingerprint, so it does not get the file analysed again.
 */
export function costFingerprint(code: string): string {
  const lines = code
    .split(/\r\n|\r|\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
  return createHash("sha256").update(lines.join("\n")).digest("hex");
}

/** Which of the analyzers' limits a file ran into. */
export type LimitKind = "time" | "memory";

interface Strikes {
  count: number;
  /** When the client may start its next new analysis. */
  until: number;
  /** When the strikes are forgotten (the memory's period after the last one). */
  forgetAt: number;
}

/** Bounded map oldest-first: a re-set entry moves to the end; past the bound the oldest is dropped. */
function setBounded<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > MAX_REMEMBERED) map.delete(map.keys().next().value!);
}

export class TimeoutMemory {
  readonly #forMs: number;
  readonly #penaltyBaseMs: number;
  readonly #now: () => number;
  /** content hash or fingerprint → when it may be tried again and which limit it ran into; ordered oldest first. */
  readonly #until = new Map<string, { until: number; limit: LimitKind }>();
  readonly #clients = new Map<string, Strikes>();

  /**
   * forSeconds: how long a file that ran into a limit (and its client's strikes) is remembered; 0: not at all.
   * penaltySeconds: a client's wait after its second strike within the period (the time limit: what such a file
   * costs), doubled with each further one, at most forSeconds. A first strike costs the client nothing more: anyone
   * may send one file that is too big, and its near-duplicates are refused by content already.
   */
  constructor(forSeconds: number, now: () => number = () => performance.now(), penaltySeconds = 0) {
    this.#forMs = forSeconds * 1000;
    this.#penaltyBaseMs = penaltySeconds * 1000;
    this.#now = now;
  }

  /** The content (by hash, and by fingerprint when its code is given) ran into a limit; the client gets a strike. */
  remember(hash: string, code?: string, client?: string, limit: LimitKind = "time"): void {
    if (this.#forMs <= 0) return;
    const now = this.#now();
    setBounded(this.#until, hash, { until: now + this.#forMs, limit });
    if (code !== undefined) setBounded(this.#until, costFingerprint(code), { until: now + this.#forMs, limit });
    if (client === undefined || this.#penaltyBaseMs <= 0) return;
    const previous = this.#clients.get(client);
    const count = previous && previous.forgetAt > now ? previous.count + 1 : 1;
    const wait = count < 2 ? 0 : Math.min(this.#forMs, this.#penaltyBaseMs * 2 ** Math.min(count - 2, 20));
    setBounded(this.#clients, client, { count, until: now + wait, forgetAt: now + this.#forMs });
  }

  /** Whole seconds until this content (or, given its code, a near-duplicate) may be analysed again, or null. */
  refusedFor(hash: string, code?: string): number | null {
    return this.refusal(hash, code)?.seconds ?? null;
  }

  /** As refusedFor, with the limit the content ran into. */
  refusal(hash: string, code?: string): { seconds: number; limit: LimitKind } | null {
    const found = [this.#left(hash), code === undefined ? null : this.#left(costFingerprint(code))].filter((left) => left !== null);
    return found.length === 0 ? null : found.reduce((a, b) => (b.seconds > a.seconds ? b : a));
  }

  /** Whole seconds this client still waits before a new analysis, or null; and how many strikes it has. */
  clientWait(client: string): { seconds: number; strikes: number } | null {
    const strikes = this.#clients.get(client);
    if (!strikes) return null;
    const now = this.#now();
    if (strikes.forgetAt <= now) {
      this.#clients.delete(client);
      return null;
    }
    const left = strikes.until - now;
    return left > 0 ? { seconds: Math.ceil(left / 1000), strikes: strikes.count } : null;
  }

  #left(key: string): { seconds: number; limit: LimitKind } | null {
    const entry = this.#until.get(key);
    if (entry === undefined) return null;
    const left = entry.until - this.#now();
    if (left <= 0) {
      this.#until.delete(key);
      return null;
    }
    return { seconds: Math.ceil(left / 1000), limit: entry.limit };
  }
}

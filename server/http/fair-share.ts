// Per-client limits: analyses in flight at once, and a rate for writes such as reports; over its share a client gets 429 with Retry-After.

/** Clients tracked at most; beyond it the least recently seen idle ones are forgotten (bounded memory under many addresses). */
const MAX_TRACKED_CLIENTS = 100_000;

/** How many requests of one client may be in flight at once (e.g. analyses: running plus waiting). */
export class InFlightLimit {
  readonly max: number;
  readonly #inFlight = new Map<string, number>();

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a whole number >= 1 (got ${max})`);
    this.max = max;
  }

  /** A release function when the client is within its share (call it once the request is answered), else null. */
  tryEnter(client: string): (() => void) | null {
    const current = this.#inFlight.get(client) ?? 0;
    if (current >= this.max) return null;
    this.#inFlight.set(client, current + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#inFlight.get(client) ?? 1) - 1;
      if (left > 0) this.#inFlight.set(client, left);
      else this.#inFlight.delete(client);
    };
  }

  inFlight(client: string): number {
    return this.#inFlight.get(client) ?? 0;
  }
}

interface Bucket {
  tokens: number;
  at: number;
}

/** A token bucket per client: `perMinute` requests a minute on average, up to `perMinute` at once after a quiet minute. */
export class RateLimit {
  readonly #perMinute: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  constructor(perMinute: number, now: () => number = () => performance.now()) {
    if (!Number.isInteger(perMinute) || perMinute < 1) throw new RangeError(`perMinute must be a whole number >= 1 (got ${perMinute})`);
    this.#perMinute = perMinute;
    this.#now = now;
  }

  /** Takes one token: null when allowed, else the whole seconds until the client may try again. */
  take(client: string): number | null {
    const now = this.#now();
    const ratePerMs = this.#perMinute / 60_000;
    const known = this.#buckets.get(client);
    const tokens = known ? Math.min(this.#perMinute, known.tokens + (now - known.at) * ratePerMs) : this.#perMinute;
    this.#buckets.delete(client); // re-inserted below: the map stays ordered by last use
    if (tokens < 1) {
      this.#buckets.set(client, { tokens, at: now });
      return Math.max(1, Math.ceil((1 - tokens) / ratePerMs / 1000));
    }
    this.#buckets.set(client, { tokens: tokens - 1, at: now });
    if (this.#buckets.size > MAX_TRACKED_CLIENTS) this.#forgetOldest();
    return null;
  }

  #forgetOldest(): void {
    for (const client of this.#buckets.keys()) {
      this.#buckets.delete(client);
      if (this.#buckets.size <= MAX_TRACKED_CLIENTS * 0.9) return;
    }
  }
}

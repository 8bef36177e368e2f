// Contents that ran into the analyzers' time limit, remembered by hash for a while so that a re-upload is refused at once instead of holding a lane again.

const MAX_REMEMBERED = 10_000;

export class TimeoutMemory {
  readonly #forMs: number;
  readonly #now: () => number;
  /** hash → when it may be tried again; ordered oldest first. */
  readonly #until = new Map<string, number>();

  constructor(forSeconds: number, now: () => number = () => performance.now()) {
    this.#forMs = forSeconds * 1000;
    this.#now = now;
  }

  remember(hash: string): void {
    if (this.#forMs <= 0) return;
    this.#until.delete(hash);
    this.#until.set(hash, this.#now() + this.#forMs);
    if (this.#until.size > MAX_REMEMBERED) this.#until.delete(this.#until.keys().next().value!);
  }

  /** Whole seconds until this content may be analysed again, or null when it is not refused. */
  refusedFor(hash: string): number | null {
    const until = this.#until.get(hash);
    if (until === undefined) return null;
    const left = until - this.#now();
    if (left <= 0) {
      this.#until.delete(hash);
      return null;
    }
    return Math.ceil(left / 1000);
  }
}

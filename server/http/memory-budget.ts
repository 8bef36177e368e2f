// One budget for the bytes that requests may hold in memory at once (upload bodies, stored answers being sent): what does not fit is refused before it is read.

/** A share of the budget held by one request; release it once (more calls do nothing) when its bytes are gone. */
export type Release = () => void;

export class MemoryBudget {
  readonly limitBytes: number;
  #used = 0;

  constructor(limitBytes: number) {
    if (!Number.isInteger(limitBytes) || limitBytes < 1) throw new RangeError(`limitBytes must be a whole number >= 1 (got ${limitBytes})`);
    this.limitBytes = limitBytes;
  }

  /** Bytes reserved now. */
  get usedBytes(): number {
    return this.#used;
  }

  /** Whether a reservation of this size would be granted now. */
  fits(bytes: number): boolean {
    return this.#used + bytes <= this.limitBytes;
  }

  /** A release function when the bytes fit in what is left, else null (the caller refuses the request). */
  tryReserve(bytes: number): Release | null {
    if (!this.fits(bytes)) return null;
    this.#used += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#used -= bytes;
    };
  }
}

export const budgetExceededMessage = "Server busy: too many uploads and answers are in progress; try again shortly";

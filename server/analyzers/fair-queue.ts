// The analyzers' waiting line: one FIFO per client, served fewest-running-first, with a cap on the lanes one client may hold.

export interface QueuedJob {
  client: string;
  /** Arrival order: among clients with equally few running jobs, the longest waiting goes first. */
  seq: number;
}

export class FairQueue<Job extends QueuedJob> {
  readonly #laneCap: number;
  readonly #waiting = new Map<string, Job[]>();
  readonly #running = new Map<string, number>();
  #waitingCount = 0;
  #runningCount = 0;

  /** laneCap: how many jobs of one client may run at once (the rest of the lanes stay for the others). */
  constructor(laneCap: number) {
    if (!Number.isInteger(laneCap) || laneCap < 1) throw new RangeError(`laneCap must be a whole number >= 1 (got ${laneCap})`);
    this.#laneCap = laneCap;
  }

  get waiting(): number {
    return this.#waitingCount;
  }

  get running(): number {
    return this.#runningCount;
  }

  push(job: Job): void {
    const line = this.#waiting.get(job.client);
    if (line) line.push(job);
    else this.#waiting.set(job.client, [job]);
    this.#waitingCount++;
  }

  /** The next job to run, counted as running until done(); undefined when nothing waits or every waiting client is at its cap. */
  take(): Job | undefined {
    let chosen: Job | undefined;
    let chosenRunning = Infinity;
    for (const [client, line] of this.#waiting) {
      const running = this.#running.get(client) ?? 0;
      const head = line[0]!;
      if (running >= this.#laneCap) continue;
      if (running < chosenRunning || (running === chosenRunning && head.seq < chosen!.seq)) {
        chosen = head;
        chosenRunning = running;
      }
    }
    if (!chosen) return undefined;
    const line = this.#waiting.get(chosen.client)!;
    line.shift();
    if (line.length === 0) this.#waiting.delete(chosen.client);
    this.#waitingCount--;
    this.#running.set(chosen.client, chosenRunning + 1);
    this.#runningCount++;
    return chosen;
  }

  done(job: Job): void {
    const running = (this.#running.get(job.client) ?? 1) - 1;
    if (running > 0) this.#running.set(job.client, running);
    else this.#running.delete(job.client);
    this.#runningCount--;
  }

  /** Takes a waiting job out of the line (it will not run); false when it was not waiting. */
  remove(job: Job): boolean {
    const line = this.#waiting.get(job.client);
    const at = line?.indexOf(job) ?? -1;
    if (!line || at === -1) return false;
    line.splice(at, 1);
    if (line.length === 0) this.#waiting.delete(job.client);
    this.#waitingCount--;
    return true;
  }

  /** Empties the line; returns the jobs that were waiting. */
  clear(): Job[] {
    const jobs = [...this.#waiting.values()].flat();
    this.#waiting.clear();
    this.#waitingCount = 0;
    return jobs;
  }
}

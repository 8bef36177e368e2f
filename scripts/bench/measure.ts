// Small measuring tools for the benchmark: timing, percentiles, concurrency, wrk.
import { execa } from "execa";

export async function timeOnce(run: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await run();
  return performance.now() - start;
}

export async function timeMany(count: number, run: (index: number) => Promise<unknown>): Promise<number[]> {
  const times: number[] = [];
  for (let index = 0; index < count; index++) times.push(await timeOnce(() => run(index)));
  return times;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Runs `total` jobs with `concurrency` at a time; returns jobs per second. */
export async function throughput(total: number, concurrency: number, job: (index: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) await job(next++);
    }),
  );
  return total / ((performance.now() - start) / 1000);
}

/** Requests per second that `wrk -t1 -c32` reaches against url. */
export async function wrkRate(url: string, seconds: number): Promise<number> {
  const { stdout } = await execa("wrk", ["-t1", "-c32", `-d${seconds}s`, url]);
  const match = /Requests\/sec:\s+([\d.]+)/.exec(stdout);
  if (!match) throw new Error(`wrk printed no rate:\n${stdout}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(stdout);
  if (non2xx) throw new Error(`wrk saw ${non2xx[1]} non-2xx answers from ${url}`);
  return Number(match[1]);
}

export const ms = (value: number) => `${value.toFixed(value < 10 ? 2 : 0)} ms`;
export const ratio = (value: number) => `${value.toFixed(2)}×`;

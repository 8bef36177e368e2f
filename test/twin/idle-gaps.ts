// Idle gaps through a balancer: open a pool of back-end connections with one burst, then reuse each after its own idle gap; what an ALB does to a server between bursts of traffic.
import http from "node:http";

export interface IdleGapOptions {
  /** Requests of the burst (at once: the balancer opens about as many back-end connections). */
  connections: number;
  /** The idle gaps, spread evenly from the first to the last (ms after the burst ended); one request each. */
  fromMs: number;
  toMs: number;
  /** What is requested (a cheap GET). */
  path: string;
  /** Local address the client connects from. */
  from?: string;
}

export interface IdleGapResult {
  /** Answers by status of the requests sent after the gaps (0: no answer at all). */
  statuses: Record<number, number>;
  /** The burst's answers by status. */
  burst: Record<number, number>;
}

function get(url: string, from: string | undefined): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, localAddress: from }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", () => resolve(0));
    });
    req.on("error", () => resolve(0));
  });
}

function tally(statuses: number[]): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
}

/** One burst, then one request per gap; each client connection is new, so only the balancer's back-end connections are reused. */
export async function idleGaps(balancerUrl: string, options: IdleGapOptions): Promise<IdleGapResult> {
  const url = `${balancerUrl}${options.path}`;
  const burst = await Promise.all(Array.from({ length: options.connections }, () => get(url, options.from)));
  const step = options.connections > 1 ? (options.toMs - options.fromMs) / (options.connections - 1) : 0;
  const later = await Promise.all(
    Array.from({ length: options.connections }, (_, i) => new Promise<number>((resolve) => setTimeout(() => void get(url, options.from).then(resolve), options.fromMs + i * step))),
  );
  return { statuses: tally(later), burst: tally(burst) };
}

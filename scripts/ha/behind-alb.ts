// Two availability scenarios with the ALB twin (test/twin/alb.ts) in front of the fleet's real instances instead of HAProxy: keep-alive (issue 13, item 2) and fair-share-behind-lb (item 3).
import { randomBytes } from "node:crypto";
import { IDLE_TIMEOUT_SECONDS } from "../../cloudformation/template/settings.ts";
import { uploadFrom } from "../../test/helpers/raw-client.ts";
import { startAlb, type Alb, type AlbTarget } from "../../test/twin/alb.ts";
import { idleGaps } from "../../test/twin/idle-gaps.ts";
import type { Harness } from "./harness.ts";
import { sleep } from "./scenarios.ts";

export const ALB_SCENARIOS = ["keep-alive", "fair-share-behind-lb"] as const;
export type AlbScenario = (typeof ALB_SCENARIOS)[number];

export interface AlbResult {
  name: AlbScenario;
  /** What was done, in one line. */
  run: string;
  /** The figures measured. */
  figures: string;
  target: string;
  met: boolean;
  seconds: number;
  /** The counts behind the figures, for tests (never times). */
  counts: Record<string, number>;
}

/** The server's keep-alive before issue 13 (65 s, plus Node's own 1 s buffer): when it closed idle connections. */
const OLD_SERVER_CLOSE_MS = 66_000;

function targets(harness: Harness): AlbTarget[] {
  return harness.live.map((instance) => ({ id: instance.name, host: "127.0.0.1", port: instance.slot.port }));
}

/** A balancer node of its own (an ALB has one per zone at least, each with its own connection pool), closed after `use`. */
async function withNode<T>(harness: Harness, localAddress: string, use: (alb: Alb) => Promise<T>): Promise<T> {
  const alb = await startAlb({ idleTimeoutSeconds: IDLE_TIMEOUT_SECONDS, localAddress });
  alb.setTargets(targets(harness));
  try {
    return await use(alb);
  } finally {
    await alb.close();
  }
}

const count = (statuses: Record<number, number>, status: number) => statuses[status] ?? 0;
const total = (statuses: Record<number, number>) => Object.values(statuses).reduce((a, b) => a + b, 0);

/**
 * keep-alive: the template's balancer (idle timeout 120 s) in front of the fleet, real time. One node opens a pool of
 * back-end connections with a burst and reuses each once, after idle gaps spread across the old server's close (65.5–66.6 s):
 * a server that closes first races those reuses into 502s. Three more nodes reuse a connection after 70, 100 and 115 s idle,
 * longer than the old server kept one and within the balancer's timeout: an ALB sends those requests on the kept connection.
 */
export async function keepAlive(harness: Harness, connections: number): Promise<AlbResult> {
  const started = Date.now();
  const longGaps = [70_000, 100_000, 115_000];
  const [sweep, ...long] = await Promise.all([
    withNode(harness, "127.0.0.21", async (alb) => ({ ...(await idleGaps(alb.url, { connections, fromMs: OLD_SERVER_CLOSE_MS - 500, toMs: OLD_SERVER_CLOSE_MS + 600, path: "/api/health" })), stats: alb.stats() })),
    ...longGaps.map((gap, i) =>
      withNode(harness, `127.0.0.${22 + i}`, async (alb) => ({ gap, ...(await idleGaps(alb.url, { connections: 2 * harness.live.length, fromMs: gap, toMs: gap, path: "/api/health" })), stats: alb.stats() })),
    ),
  ]);
  const bad = (statuses: Record<number, number>) => total(statuses) - count(statuses, 200);
  const sweepBad = bad(sweep.statuses) + bad(sweep.burst);
  const longBad = long.reduce((sum, node) => sum + bad(node.statuses) + bad(node.burst), 0);
  const reusedLong = long.filter((node) => node.stats.longestReusedIdleMs >= node.gap);
  const gateway = sweep.stats.elb[502] ?? 0;
  return {
    name: "keep-alive",
    run: `${connections} back-end connections reused once after idle gaps of 65.5–66.6 s (the old server's close); one each after ${longGaps.map((gap) => gap / 1000).join(", ")} s; balancer idle timeout ${IDLE_TIMEOUT_SECONDS} s; real time`,
    figures: `${total(sweep.statuses)} requests across the old close: ${gateway} × 502 (${sweepBad} not 200); after 70/100/115 s: ${reusedLong.length} of ${long.length} sent on the kept connection (${long.map((node) => `${(node.stats.longestReusedIdleMs / 1000).toFixed(0)} s`).join(", ")} longest idle reused), ${longBad} not 200`,
    target: "0 × 502; connections idle 70–115 s reused, not closed by the server first",
    met: sweepBad === 0 && longBad === 0 && reusedLong.length === long.length,
    seconds: (Date.now() - started) / 1000,
    counts: { badGateway: gateway, notOk: sweepBad + longBad, reusedLong: reusedLong.length, longGaps: long.length },
  };
}

interface Timed {
  status: number;
  ms: number;
}

async function upload(url: string, from: string, label: string): Promise<Timed> {
  const begun = performance.now();
  const content = `"""Upload ${label}."""\n\n\ndef value_${randomBytes(4).toString("hex")}():\n    """Return a value."""\n    return ${Math.floor(Math.random() * 1e6)}\n`;
  const answer = await uploadFrom(url, `${label}.py`, content, { from }).catch(() => ({ status: 0 }));
  return { status: answer.status, ms: performance.now() - begun };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/**
 * fair-share-behind-lb: through one balancer node, client 127.0.0.6 floods uploads on `flood` connections while client
 * 127.0.0.7 uploads one small file at a time. Both reach the servers from the balancer's address only; the servers tell
 * them apart by X-Forwarded-For when TRUSTED_PROXIES names the balancer (the template's codedetect:trustedProxies).
 */
export async function fairShareBehindLb(harness: Harness, flood: number, probes: number): Promise<AlbResult> {
  const started = Date.now();
  return withNode(harness, "127.0.0.21", async (alb) => {
    const idle: Timed[] = [];
    for (let i = 0; i < probes; i += 1) idle.push(await upload(alb.url, "127.0.0.7", `idle-${i}`));
    let flooding = true;
    const flooded: Timed[] = [];
    const flooders = Array.from({ length: flood }, async (_, lane) => {
      for (let i = 0; flooding; i += 1) flooded.push(await upload(alb.url, "127.0.0.6", `flood-${lane}-${i}`));
    });
    await sleep(3000); // the flood holds its share on every instance
    const busy: Timed[] = [];
    for (let i = 0; i < probes; i += 1) busy.push(await upload(alb.url, "127.0.0.7", `busy-${i}`));
    flooding = false;
    await Promise.all(flooders);
    const idleMs = median(idle.filter((t) => t.status === 200).map((t) => t.ms));
    const busyServed = busy.filter((t) => t.status === 200);
    const busyMs = median(busyServed.map((t) => t.ms));
    const refusedFlood = flooded.filter((t) => t.status === 429).length;
    const busyStatuses = busy.map((t) => t.status).join(",");
    return {
      name: "fair-share-behind-lb" as const,
      run: `through one balancer node: client 127.0.0.6 floods uploads on ${flood} connections; client 127.0.0.7 sends ${probes} small uploads one at a time, idle then during the flood`,
      figures: `other client: idle median ${idleMs.toFixed(0)} ms; during the flood ${busyServed.length} of ${probes} served (${busyStatuses}), median ${Number.isNaN(busyMs) ? "—" : `${busyMs.toFixed(0)} ms = ${(busyMs / idleMs).toFixed(2)}×`}; flooder: ${flooded.length} uploads, ${refusedFlood} answered 429`,
      target: "every upload of the other client served during the flood, median ≤ 2 × its idle median",
      met: idle.every((t) => t.status === 200) && busyServed.length === probes && busyMs <= 2 * idleMs,
      seconds: (Date.now() - started) / 1000,
      counts: { probes, idleServed: idle.filter((t) => t.status === 200).length, busyServed: busyServed.length, flooded: flooded.length, floodRefused: refusedFlood },
    };
  });
}

/** The section's lines for BENCHMARKS.md. */
export function albTable(results: AlbResult[], machine: string): string[] {
  return [
    `${machine}; the ALB twin (\`test/twin/alb.ts\`: idle back-end connections kept and reused FIFO up to its idle timeout of ${IDLE_TIMEOUT_SECONDS} s, the template's; the client only in X-Forwarded-For; its own loopback address as the peer; 502 without retry) in front of the fleet's instances (the agent in local mode, as in the table above, with \`trustedProxies\` set as the template sets it on AWS).`,
    "",
    "| scenario | run | figures | target | met | duration |",
    "|---|---|---|---|---|---|",
    ...results.map((r) => `| ${r.name} | ${r.run} | ${r.figures} | ${r.target} | ${r.met ? "yes" : "**no**"} | ${r.seconds.toFixed(0)} s |`),
    "",
  ];
}

// The fleet's load balancer: HAProxy 2.6 on loopback with a config of the harness's own, health checks at the template's cadence scaled down, a runtime API socket.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { runtimeCommand } from "../../bootstrap/adapters/haproxy.ts";

/** The target group's check (10 s interval, 2 healthy, 2 unhealthy, 5 s timeout) scaled down tenfold. */
export const CHECK = { interSeconds: 1, fall: 2, rise: 2, timeoutMs: 500 } as const;
export const BACKEND = "app";

export interface Slot {
  /** The server's name in the backend ("s1"…): an instance's place in the pool. */
  server: string;
  port: number;
}

/** The config as text. Every slot starts in maintenance (not registered); an agent's verify step registers its own. */
export function renderConfig(options: { frontendPort: number; socket: string; slots: Slot[] }): string {
  return [
    "global",
    `  stats socket ${options.socket} mode 600 level admin`,
    "  maxconn 2000",
    "defaults",
    "  mode http",
    "  timeout connect 2s",
    "  timeout client 120s",
    "  timeout server 120s",
    "  timeout queue 60s",
    "  timeout http-keep-alive 2s",
    // A connection refused or closed before any answer goes to another server; an answer (even 503) reaches the client.
    "  retries 3",
    "  option redispatch 1",
    "  retry-on conn-failure empty-response",
    "frontend fleet",
    `  bind 127.0.0.1:${options.frontendPort}`,
    `  default_backend ${BACKEND}`,
    `backend ${BACKEND}`,
    "  balance roundrobin",
    "  option forwardfor",
    "  option httpchk GET /api/health",
    "  http-check expect status 200",
    `  timeout check ${CHECK.timeoutMs}ms`,
    `  default-server inter ${CHECK.interSeconds}s fastinter ${CHECK.interSeconds}s downinter ${CHECK.interSeconds}s fall ${CHECK.fall} rise ${CHECK.rise}`,
    ...options.slots.map((slot) => `  server ${slot.server} 127.0.0.1:${slot.port} check disabled`),
    "",
  ].join("\n");
}

export interface Haproxy {
  socket: string;
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** Writes the config under `dir`, checks it with `haproxy -c`, runs HAProxy in the foreground, waits for its socket. */
export async function startHaproxy(dir: string, frontendPort: number, slots: Slot[]): Promise<Haproxy> {
  fs.mkdirSync(dir, { recursive: true });
  const socket = path.join(dir, "haproxy.sock");
  const file = path.join(dir, "haproxy.cfg");
  fs.writeFileSync(file, renderConfig({ frontendPort, socket, slots }));
  const log = fs.openSync(path.join(dir, "haproxy.log"), "a");
  const child = spawn("haproxy", ["-db", "-f", file], { stdio: ["ignore", log, log] });
  fs.closeSync(log);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  for (let i = 0; ; i += 1) {
    if (child.exitCode !== null) throw new Error(`haproxy exited (${child.exitCode}); see ${path.join(dir, "haproxy.log")}`);
    if (await runtimeCommand(socket, "show info", 1000).then(() => true, () => false)) break;
    if (i > 100) throw new Error(`haproxy's runtime API did not come up at ${socket}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    socket,
    url: `http://127.0.0.1:${frontendPort}`,
    child,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** A backend server's spec for the agent: haproxy:<socket>/<backend>/<server>. */
export function balancerFor(haproxy: { socket: string }, slot: Slot): string {
  return `haproxy:${haproxy.socket}/${BACKEND}/${slot.server}`;
}

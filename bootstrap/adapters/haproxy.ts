// The HAProxy balancer adapter: a server of a backend, reached through HAProxy's runtime API socket, standing in for an ELBv2 target.
import net from "node:net";
import { z } from "zod";
import type { BalancerTarget } from "../../compose/actions.ts";
import type { TargetHealth } from "./aws.ts";

/** "haproxy:<socket path>/<backend>/<server>" → its parts; the socket path may itself contain slashes. */
export function parseHaproxySpec(spec: string): { socket: string; backend: string; server: string } {
  const match = /^haproxy:(\/.+)\/([^/]+)\/([^/]+)$/.exec(spec);
  if (!match) throw new Error(`bad HAProxy balancer "${spec}": expected haproxy:<absolute socket path>/<backend>/<server>`);
  return { socket: match[1]!, backend: match[2]!, server: match[3]! };
}

/** Sends one command on the runtime API (non-interactive: HAProxy answers and closes). */
export function runtimeCommand(socket: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const connection = net.createConnection(socket);
    connection.setTimeout(timeoutMs, () => connection.destroy(new Error(`HAProxy runtime API at ${socket}: no answer to "${command}" in ${timeoutMs} ms`)));
    connection.on("connect", () => connection.end(`${command}\n`));
    connection.on("data", (chunk: Buffer) => chunks.push(chunk));
    connection.on("error", (error) => reject(new Error(`HAProxy runtime API at ${socket}: ${error.message}`)));
    connection.on("close", (hadError) => {
      if (!hadError) resolve(Buffer.concat(chunks).toString("utf8"));
    });
  });
}

/** One field of `show stat json`: what we read of it. */
const StatFieldSchema = z.object({
  objType: z.string(),
  field: z.object({ name: z.string() }).loose(),
  value: z.object({ value: z.union([z.string(), z.number()]) }).loose(),
}).loose();
const StatSchema = z.array(z.array(StatFieldSchema));

export interface ServerStat {
  /** HAProxy's status column: "UP", "DOWN", "MAINT", "DRAIN", "UP 1/2", "DOWN 1/2", "no check", … */
  status: string;
  /** Current sessions on the server (requests being served or queued to it). */
  sessions: number;
  /** Total sessions sent to it so far. */
  total: number;
  /** Requests sent again after a failed connection or empty answer (wretr), and those sent to another server (wredis). */
  retries: number;
  redispatches: number;
}

/** The server's row of `show stat json`, or null when the backend has no such server. */
export async function serverStat(socket: string, backend: string, server: string): Promise<ServerStat | null> {
  const text = await runtimeCommand(socket, "show stat json");
  let rows: z.infer<typeof StatSchema>;
  try {
    rows = StatSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new Error(`HAProxy runtime API at ${socket}: "show stat json" answered what is not its stats (${(error as Error).message.slice(0, 200)}): ${text.slice(0, 200)}`);
  }
  for (const row of rows) {
    const get = (name: string) => row.find((f) => f.field.name === name)?.value.value;
    if (get("pxname") === backend && get("svname") === server) {
      return { status: String(get("status") ?? ""), sessions: Number(get("scur") ?? 0), total: Number(get("stot") ?? 0), retries: Number(get("wretr") ?? 0), redispatches: Number(get("wredis") ?? 0) };
    }
  }
  return null;
}

/** HAProxy's view in ELBv2's words: MAINT with nothing in flight is "unregistered", MAINT still serving is "draining", UP is "healthy". */
export function targetHealthOf(stat: ServerStat | null): TargetHealth {
  if (!stat) return { state: "unregistered", reason: "no such server in the backend" };
  const status = stat.status;
  if (/MAINT/.test(status)) return stat.sessions > 0 ? { state: "draining", reason: `${stat.sessions} session(s) still in flight` } : { state: "unregistered", reason: status };
  if (status === "UP" || status === "no check") return { state: "healthy", reason: null };
  if (/^DRAIN/.test(status)) return { state: "draining", reason: status };
  if (/^UP /.test(status)) return { state: "unhealthy", reason: `going down (${status})` };
  if (/^DOWN /.test(status)) return { state: "initial", reason: `coming up (${status})` };
  return { state: "unhealthy", reason: status };
}

export function createHaproxyBalancer(spec: string) {
  const { socket, backend, server } = parseHaproxySpec(spec);
  const set = async (state: "ready" | "maint") => {
    const answer = (await runtimeCommand(socket, `set server ${backend}/${server} state ${state}`)).trim();
    if (answer !== "") throw new Error(`HAProxy refused "set server ${backend}/${server} state ${state}": ${answer}`);
  };
  return {
    spec,
    // The target's id and port are the agent's; HAProxy knows the server by its slot name in the spec.
    health: async (_target: BalancerTarget): Promise<TargetHealth> => targetHealthOf(await serverStat(socket, backend, server)),
    register: async (_target: BalancerTarget) => set("ready"),
    deregister: async (_target: BalancerTarget) => set("maint"),
  };
}

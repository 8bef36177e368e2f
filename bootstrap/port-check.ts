// Refuses a run whose published port another process holds, before anything is built or started, naming the holder when it can be known.
import fs from "node:fs";
import net from "node:net";
import { runCommand } from "../compose/executor.ts";
import type { Config } from "./config.ts";
import { StepError } from "./errors.ts";

export type PortSeen =
  | { state: "free" }
  /** This instance's own container publishes it (a re-run): nothing to refuse. */
  | { state: "ours" }
  /** Held by someone else; `holder` names it when the engine or /proc could tell. */
  | { state: "taken"; holder: string | null; code: string };

/** Tries to bind the address and port the stack will publish; a listener already there answers EADDRINUSE. */
function tryBind(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

/** Containers publishing the port, as "name<TAB>compose project". */
async function publishers(port: number): Promise<{ name: string; project: string }[]> {
  const listed = await runCommand(["docker", "ps", "--filter", `publish=${port}`, "--format", '{{.Names}}\t{{.Label "com.docker.compose.project"}}'], { timeoutMs: 10_000 }).catch(() => null);
  if (!listed || listed.exitCode !== 0) return [];
  return listed.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [name = "", project = ""] = line.split("\t");
      return { name, project };
    });
}

/** The socket inodes listening on the port (/proc/net/tcp and tcp6: state 0A is LISTEN, ports in hex). */
export function listeningInodes(tables: string[], port: number): Set<string> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const inodes = new Set<string>();
  for (const table of tables) {
    for (const line of table.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length > 9 && fields[1]?.endsWith(`:${hex}`) && fields[3] === "0A") inodes.add(fields[9]!);
    }
  }
  return inodes;
}

/** The process holding one of those sockets, as "name (pid N)"; null when /proc does not tell (another user's process, another namespace). */
function processHolding(inodes: Set<string>): string | null {
  if (inodes.size === 0) return null;
  let pids: string[];
  try {
    pids = fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry));
  } catch {
    return null;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && inodes.has(inode)) {
        // the program's name as started (argv[0]); comm is a thread's name, which runtimes rename ("MainThread")
        const name = (() => {
          try {
            const argv0 = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[0] ?? "";
            return argv0 ? argv0.slice(argv0.lastIndexOf("/") + 1) : fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
          } catch {
            return "a process";
          }
        })();
        return `${name} (pid ${pid})`;
      }
    }
  }
  return null;
}

function readTables(): string[] {
  return ["/proc/net/tcp", "/proc/net/tcp6"].flatMap((file) => {
    try {
      return [fs.readFileSync(file, "utf8")];
    } catch {
      return [];
    }
  });
}

/** Reads the world, changes nothing: is the port free, this stack's own, or someone else's (and whose)? */
export async function observePort(config: Config, project: string): Promise<PortSeen> {
  const code = await tryBind(config.bindAddress, config.port);
  if (code === null) return { state: "free" };
  const containers = code === "EADDRINUSE" ? await publishers(config.port) : [];
  if (containers.some((container) => container.project === project)) return { state: "ours" };
  const container = containers[0];
  if (container) return { state: "taken", code, holder: `container ${container.name}${container.project ? ` (Compose project ${container.project})` : ""}` };
  return { state: "taken", code, holder: code === "EADDRINUSE" ? processHolding(listeningInodes(readTables(), config.port)) : null };
}

/** Pure: the refusal for a port someone else holds, or null. */
export function portRefusal(seen: PortSeen, config: Config): StepError | null {
  if (seen.state !== "taken") return null;
  const where = `port ${config.port} on ${config.bindAddress}`;
  const cause =
    seen.code === "EADDRINUSE" ? `${where} is already in use${seen.holder ? ` by ${seen.holder}` : ""}` : seen.code === "EACCES" ? `${where} may not be bound by this user (EACCES)` : `${where} cannot be bound (${seen.code})`;
  const other = config.port === 65535 ? config.port - 1 : config.port + 1;
  return new StepError({
    step: "start-up",
    action: `check that ${where} is free before building or starting anything`,
    cause,
    next: `stop what holds it, or choose another port: --port ${other} (npm start -- --port ${other})`,
  });
}

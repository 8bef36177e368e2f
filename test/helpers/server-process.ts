// Starts the real server (`node server/main.ts`) as a child process on a free port with its own DATA_DIR, for tests.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { MALLOC_ENV } from "../../server/allocator.ts";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface RunningServer {
  url: string;
  port: number;
  dataDir: string;
  child: ChildProcess;
  /** Every line the server printed so far (stdout JSON logs and stderr). */
  lines: string[];
  /** Resolves with the exit code once the process ended. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function tempDir(prefix = "codedetect-test-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export interface StartOptions {
  dataDir?: string;
  env?: Record<string, string>;
  /** How long to wait for the "listening" line. */
  timeoutMs?: number;
  /** Start it as the leader of its own process group (so that a test can signal the whole group). */
  detached?: boolean;
  /** A command that execs the server (e.g. ["prlimit", "--nofile=128:128"]): the server keeps its pid. */
  prefix?: string[];
  /** Another checkout of the repository to run the server from (a benchmark's baseline); default: this one. */
  root?: string;
  /** glibc's malloc as the image sets it (server/allocator.ts), or as glibc sets itself ("default": a benchmark's baseline). */
  malloc?: "image" | "default";
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const dataDir = options.dataDir ?? tempDir();
  const root = options.root ?? ROOT;
  const [command, ...args] = [...(options.prefix ?? []), process.execPath, path.join(root, "server/main.ts")];
  const child = spawn(command!, args, {
    cwd: root,
    env: { ...process.env, ...(options.malloc === "default" ? {} : MALLOC_ENV), PORT: "0", HOST: "127.0.0.1", DATA_DIR: dataDir, DRAIN_SECONDS: "0", LOG_LEVEL: "info", ANALYZER_WORKERS: "2", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.detached ?? false,
  });
  const lines: string[] = [];
  // "close", not "exit": it comes after the output pipes are drained, so `lines` is complete when it resolves
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in time:\n${lines.join("\n")}`)), options.timeoutMs ?? 30_000);
    const onLine = (line: string) => {
      lines.push(line);
      if (line.includes('"msg":"listening"')) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { port: number }).port);
      }
    };
    for (const stream of [child.stdout!, child.stderr!]) {
      let buffered = "";
      stream.on("data", (chunk: Buffer) => {
        buffered += chunk.toString("utf8");
        let newline: number;
        while ((newline = buffered.indexOf("\n")) >= 0) {
          onLine(buffered.slice(0, newline));
          buffered = buffered.slice(newline + 1);
        }
      });
    }
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${lines.join("\n")}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dataDir,
    child,
    lines,
    exited,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Posts one file as multipart/form-data in field "file" (or another field), the way a browser does. */
export async function upload(url: string, name: string, content: string | Uint8Array, field = "file"): Promise<{ status: number; body: any; headers: Headers }> {
  const form = new FormData();
  form.append(field, new Blob([content as BlobPart]), name);
  const response = await fetch(`${url}/api/analyze`, { method: "POST", body: form });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

/** Every regular file under dir, relative, sorted. */
export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

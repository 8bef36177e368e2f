// A real PostgreSQL 15 server for tests: initdb + pg_ctl as the `postgres` user in a temp dir the test owns, on a free port, optional TLS.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const BIN = "/usr/lib/postgresql/15/bin";

/** Why PostgreSQL cannot run here, or null. Under CI (CI=true) a reason is a failure, not a skip (see `postgresGate`). */
export function postgresUnavailable(): string | null {
  if (!fs.existsSync(path.join(BIN, "initdb"))) return `PostgreSQL 15 not installed (${BIN}/initdb missing); apt-get install postgresql`;
  try {
    execFileSync("id", ["postgres"], { stdio: "ignore" });
  } catch {
    return "no `postgres` user to run the server as";
  }
  if (process.getuid?.() !== 0) return "the tests must run as root to start PostgreSQL as the `postgres` user";
  return null;
}

export function postgresGate(): { skip: string | false; mustFail: boolean } {
  const reason = postgresUnavailable();
  if (reason === null) return { skip: false, mustFail: false };
  if (process.env.CI === "true") return { skip: false, mustFail: true };
  return { skip: `PostgreSQL suite skipped: ${reason}`, mustFail: false };
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function asPostgres(command: string): string {
  return execFileSync("su", ["postgres", "-s", "/bin/sh", "-c", command], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** A self-signed certificate (its own CA) for 127.0.0.1 and localhost, written as NAME.crt and NAME.key in dir. */
export function selfSignedCertificate(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", `/CN=${name}`,
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
  return { cert, key };
}

export interface RunningPostgres {
  port: number;
  dir: string;
  /** postgres://app@127.0.0.1:PORT/DATABASE (trust authentication: any password is accepted and ignored). */
  url(database?: string, query?: string): string;
  /** The CA file that verifies this server's certificate (TLS servers only). */
  caFile: string | null;
  createDatabase(name: string): void;
  /** psql -At against a database; returns its output. */
  sql(database: string, statement: string): string;
  stop(mode?: "fast" | "immediate"): void;
  /** SIGSTOP (or SIGCONT) to the server and all its processes: a hung database host, connections left open. */
  signalAll(signal: "SIGSTOP" | "SIGCONT"): void;
  start(): void;
  /** Stops the server and removes its directory. */
  destroy(): void;
}

export async function startPostgres(options: { tls?: boolean; /** fsync on (as in production): for the bench; tests run faster without. */ durable?: boolean } = {}): Promise<RunningPostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "codedetect-pg-"));
  fs.chmodSync(dir, 0o755);
  const port = await freePort();
  let caFile: string | null = null;
  let tlsOptions = "";
  if (options.tls) {
    const { cert, key } = selfSignedCertificate(dir, "server");
    fs.chmodSync(key, 0o600);
    caFile = cert;
    tlsOptions = ` -c ssl=on -c ssl_cert_file=${cert} -c ssl_key_file=${key}`;
  }
  execFileSync("chown", ["-R", "postgres:postgres", dir]);
  asPostgres(`${BIN}/initdb -D ${dir}/data -A trust -U app >/dev/null`);
  const start = () => {
    asPostgres(`${BIN}/pg_ctl -D ${dir}/data -w -o '-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=${options.durable ? "on" : "off"}${tlsOptions}' -l ${dir}/log start >/dev/null`);
  };
  start();
  let running = true;
  const psql = (database: string, statement: string) =>
    execFileSync(`${BIN}/psql`, ["-h", "127.0.0.1", "-p", String(port), "-U", "app", "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", statement], { encoding: "utf8" }).trim();
  const server: RunningPostgres = {
    port,
    dir,
    caFile,
    url: (database = "postgres", query = "") => `postgres://app@127.0.0.1:${port}/${database}${query ? `?${query}` : ""}`,
    createDatabase: (name) => void psql("postgres", `CREATE DATABASE "${name}"`),
    sql: psql,
    signalAll(signal) {
      const postmaster = Number(fs.readFileSync(path.join(dir, "data", "postmaster.pid"), "utf8").split("\n")[0]);
      let children: number[] = [];
      try {
        children = execFileSync("pgrep", ["-P", String(postmaster)], { encoding: "utf8" }).trim().split("\n").filter(Boolean).map(Number);
      } catch {
        // no children: the postmaster alone
      }
      for (const pid of [postmaster, ...children]) process.kill(pid, signal);
    },
    stop(mode = "fast") {
      if (!running) return;
      asPostgres(`${BIN}/pg_ctl -D ${dir}/data -w -m ${mode} stop >/dev/null`);
      running = false;
    },
    start() {
      if (running) return;
      start();
      running = true;
    },
    destroy() {
      try {
        server.stop("immediate");
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  };
  return server;
}

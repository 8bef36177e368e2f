// The server on PostgreSQL: health names the backend (never the URL or password), an outage is 503 with Retry-After and heals, TLS is verified.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import pg from "pg";
import { postgresGate, selfSignedCertificate, startPostgres, type RunningPostgres } from "../helpers/postgres.ts";
import { startServer, tempDir, upload, type RunningServer } from "../helpers/server-process.ts";

const gate = postgresGate();
const PASSWORD = "pw-that-must-never-show-9f3b";
let plain: RunningPostgres | undefined;
let tls: RunningPostgres | undefined;

before(async () => {
  if (gate.mustFail) throw new Error("PostgreSQL is required under CI and is unavailable");
  if (gate.skip) return;
  [plain, tls] = await Promise.all([startPostgres(), startPostgres({ tls: true })]);
});
after(() => {
  plain?.destroy();
  tls?.destroy();
});

/** The URL with a password (trust authentication ignores it): proves it is never printed or answered. */
const withPassword = (url: string) => url.replace("postgres://app@", `postgres://app:${PASSWORD}@`);

async function health(server: RunningServer): Promise<{ status: number; body: any; text: string }> {
  const response = await fetch(`${server.url}/api/health`);
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text), text };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, tries = 100): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`gave up waiting: ${what}`);
}

async function analysisRows(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query("SELECT file_hash FROM analysis ORDER BY id")).rows.map((r) => r.file_hash as string);
  } finally {
    await client.end();
  }
}

const code = (i: number) => `def f_${i}(x):\n    return x + ${i}\n`;

test("health says postgresql; neither health nor the logs ever show the password; stopped while serving: 503 + Retry-After, nothing half-written, recovery", { skip: gate.skip }, async () => {
  plain!.createDatabase("outage");
  const server = await startServer({ env: { DATABASE_URL: withPassword(plain!.url("outage")), HEALTH_INTERVAL_SECONDS: "1", DB_BUSY_RETRY_SECONDS: "3" } });
  try {
    const healthy = await health(server);
    assert.equal(healthy.status, 200, healthy.text);
    assert.equal(healthy.body.checks.database.backend, "postgresql");
    const first = await upload(server.url, "a.py", code(1));
    assert.equal(first.status, 200);

    plain!.stop("fast");
    const repeat = await upload(server.url, "a.py", code(1));
    assert.equal(repeat.status, 503, JSON.stringify(repeat.body));
    assert.ok(Number(repeat.headers.get("retry-after")) > 0);
    const fresh = await upload(server.url, "b.py", code(2));
    assert.equal(fresh.status, 503, JSON.stringify(fresh.body));
    assert.ok(Number(fresh.headers.get("retry-after")) > 0);
    const stats = await fetch(`${server.url}/api/stats`);
    assert.equal(stats.status, 503);
    const down = await until("health to fail", async () => {
      const h = await health(server);
      return h.status === 503 ? h : undefined;
    });
    assert.equal(down.body.checks.database.ok, false);
    assert.equal(down.body.checks.database.backend, "postgresql");
    assert.match(down.body.checks.database.error, /database server cannot be reached|cannot take work now|connection .* lost/);

    plain!.start();
    await until("health to recover", async () => ((await health(server)).status === 200 ? true : undefined));
    const again = await upload(server.url, "b.py", code(2));
    assert.equal(again.status, 200);
    // the two acknowledged uploads are the only rows: the refused ones left nothing behind
    assert.deepEqual(await analysisRows(plain!.url("outage")), [first.body.file_hash, again.body.file_hash]);
    const all = `${server.lines.join("\n")}\n${down.text}\n${healthy.text}`;
    assert.ok(!all.includes(PASSWORD), "the password appeared in the logs or in health");
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test("a database that hangs (SIGSTOP) gives 503 with Retry-After after the deadline, fails health, and recovers when it resumes; no row from the refused upload", { skip: gate.skip }, async () => {
  plain!.createDatabase("frozen");
  const server = await startServer({ env: { DATABASE_URL: plain!.url("frozen"), HEALTH_INTERVAL_SECONDS: "1", DB_BUSY_RETRY_SECONDS: "2" } });
  try {
    const first = await upload(server.url, "f.py", code(7));
    assert.equal(first.status, 200);
    plain!.signalAll("SIGSTOP");
    try {
      const refused = await upload(server.url, "f.py", code(7));
      assert.equal(refused.status, 503);
      assert.ok(Number(refused.headers.get("retry-after")) > 0);
      const down = await until("health to fail", async () => {
        const h = await health(server);
        return h.status === 503 ? h : undefined;
      });
      assert.equal(down.body.checks.database.ok, false);
    } finally {
      plain!.signalAll("SIGCONT");
    }
    await until("health to recover", async () => ((await health(server)).status === 200 ? true : undefined));
    const again = await upload(server.url, "f.py", code(7));
    assert.equal(again.status, 200);
    assert.deepEqual(await analysisRows(plain!.url("frozen")), [first.body.file_hash, again.body.file_hash]);
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test("TLS: a server with ssl=on and the right CA file connects verified (every connection encrypted)", { skip: gate.skip }, async () => {
  tls!.createDatabase("verified");
  const server = await startServer({ env: { DATABASE_URL: withPassword(tls!.url("verified", "sslmode=verify-full")), DATABASE_CA_FILE: tls!.caFile! } });
  try {
    const h = await health(server);
    assert.equal(h.status, 200, h.text);
    assert.equal((await upload(server.url, "t.py", code(3))).status, 200);
    const encrypted = tls!.sql("verified", "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'codedetect'");
    assert.equal(encrypted, "t");
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

test("TLS: a CA that did not sign the server's certificate stops the start with exit 1 and one precise line, no password", { skip: gate.skip }, async () => {
  const wrong = selfSignedCertificate(tempDir(), "impostor");
  for (const query of ["sslmode=verify-full", "sslmode=verify-ca", ""]) {
    const started = startServer({ env: { DATABASE_URL: withPassword(tls!.url("postgres", query)), DATABASE_CA_FILE: wrong.cert } });
    const error = (await started.then(() => assert.fail("the server started with an untrusted database certificate"), (e: Error) => e)) as Error;
    const lines = error.message.split("\n").filter((line) => line.startsWith("codedetect:"));
    assert.equal(lines.length, 1, error.message);
    assert.match(lines[0]!, /^codedetect: cannot use the PostgreSQL database postgres:\/\/app@127\.0\.0\.1:\d+\/postgres: the database server's TLS certificate is not trusted \((?:SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT): [^;]+\); check DATABASE_CA_FILE and the URL's host$/);
    assert.match(error.message, /exited with 1/);
    assert.ok(!error.message.includes(PASSWORD));
  }
});

test("TLS: a server whose certificate changes to one the CA does not vouch for turns health 503 with the reason", { skip: gate.skip }, async () => {
  tls!.createDatabase("rotated");
  const server = await startServer({ env: { DATABASE_URL: tls!.url("rotated", "sslmode=verify-full"), DATABASE_CA_FILE: tls!.caFile!, HEALTH_INTERVAL_SECONDS: "1", DATABASE_POOL_SIZE: "2" } });
  const certFile = path.join(tls!.dir, "server.crt");
  const keyFile = path.join(tls!.dir, "server.key");
  const original = { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) };
  try {
    assert.equal((await health(server)).status, 200);
    const other = selfSignedCertificate(tempDir(), "rotated");
    fs.writeFileSync(certFile, fs.readFileSync(other.cert));
    fs.writeFileSync(keyFile, fs.readFileSync(other.key));
    tls!.sql("postgres", "SELECT pg_reload_conf()");
    tls!.sql("postgres", "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'codedetect'");
    const down = await until("health to fail", async () => {
      const h = await health(server);
      return h.status === 503 ? h : undefined;
    });
    assert.match(down.body.checks.database.error, /TLS certificate is not trusted/);
  } finally {
    fs.writeFileSync(certFile, original.cert);
    fs.writeFileSync(keyFile, original.key);
    tls!.sql("postgres", "SELECT pg_reload_conf()");
    assert.equal(await server.stop(), 0);
  }
});

test("configuration: a bad DATABASE_URL is exit 2 with one line that does not repeat it", async () => {
  for (const [url, reason] of [
    ["mysql://u:secret-x@h/db", /DATABASE_URL must start with postgres:\/\/ or postgresql:\/\//],
    ["postgres://u:secret-x@h/db?sslmode=prefer", /DATABASE_URL has a bad query: sslmode: sslmode must be one of disable, require, verify-ca, verify-full/],
    ["postgres://u:secret-x@h/db?sslmod=require", /DATABASE_URL has a bad query: Unrecognized key: "sslmod"/],
    ["postgres://u:secret-x@h/", /DATABASE_URL must name one database/],
  ] as const) {
    const error = (await startServer({ env: { DATABASE_URL: url } }).then(() => assert.fail("started"), (e: Error) => e)) as Error;
    assert.match(error.message, /exited with 2/);
    assert.match(error.message, reason);
    assert.ok(!error.message.includes("secret-x"), error.message);
  }
});

test("without DATABASE_URL the server is on SQLite under DATA_DIR, and health says so", async () => {
  const server = await startServer();
  try {
    const h = await health(server);
    assert.equal(h.status, 200, h.text);
    assert.equal(h.body.checks.database.backend, "sqlite");
    assert.ok(fs.existsSync(path.join(server.dataDir, "database", "codedetect.db")));
  } finally {
    assert.equal(await server.stop(), 0);
  }
});

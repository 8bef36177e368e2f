// End to end on the real Docker Engine: `bootstrap --local` with a PostgreSQL database named by a secret in moto's Secrets Manager — the agent writes the env file, the pinned CA bundle reaches the container read-only, the server verifies TLS and says backend postgresql, and the password is nowhere but the env file.
// The container cannot reach the host's loopback, so this PostgreSQL listens on the Docker bridge's gateway address, with a certificate for that address from a CA of the test's own.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { docker, dockerUnavailable, freePort, gate } from "../compose/docker-harness.ts";
import { postgresUnavailable } from "../helpers/postgres.ts";
import { runAgent, tempDir } from "./helpers.ts";
import { motoUnavailable, startMoto } from "./loopback.ts";

const BIN = "/usr/lib/postgresql/15/bin";
const PASSWORD = "e2e-p@ss:w/rd?#%&-9x$'";
const reason = (await dockerUnavailable({ baseImage: true })) ?? postgresUnavailable() ?? motoUnavailable();
const { skip, mustFail } = gate(reason);

const asPostgres = (command: string) => execFileSync("su", ["postgres", "-s", "/bin/sh", "-c", command], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

describe("bootstrap --local with RDS-style PostgreSQL (secret in moto, CA bundle pinned)", { skip }, () => {
  const root = tempDir("cdpga-e2e");
  const project = `cdpga-e2e-${process.pid}`;
  // its own directory: the postgres user must reach it, and the agent's temporary root is 0700
  const pgDir = tempDir("cdpga-pg");
  let pgPort = 0;
  let gateway = "";
  let port = 0;
  let moto: Awaited<ReturnType<typeof startMoto>> | null = null;
  let trustStore: http.Server | null = null;
  let env: Record<string, string> = {};
  let args: string[] = [];
  let pgStarted = false;

  before(async () => {
    if (mustFail) throw new Error(`Docker, PostgreSQL and moto are required under CI: ${reason}`);
    // the host's address on Docker's default bridge: containers on any Compose network reach it through the host
    gateway = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(execFileSync("ip", ["-4", "-o", "addr", "show", "dev", "docker0"], { encoding: "utf8" }))?.[1] ?? "";
    assert.ok(gateway, "no IPv4 address on docker0");
    // a CA of the test's own and a server certificate for the gateway address (verify-full checks it)
    const openssl = (...argv: string[]) => execFileSync("openssl", argv, { cwd: pgDir, stdio: "ignore" });
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=cdpga-test-ca", "-keyout", "ca.key", "-out", "ca.pem");
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=database", "-keyout", "server.key", "-out", "server.csr");
    fs.writeFileSync(path.join(pgDir, "san.ext"), `subjectAltName=IP:${gateway}\n`);
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt");
    fs.chmodSync(pgDir, 0o755);
    execFileSync("chown", ["-R", "postgres:postgres", pgDir]);
    fs.chmodSync(path.join(pgDir, "server.key"), 0o600);
    pgPort = await freePort();
    asPostgres(`${BIN}/initdb -D ${pgDir}/data -A trust -U app >/dev/null`);
    // from the containers: TLS and the password only
    fs.appendFileSync(path.join(pgDir, "data", "pg_hba.conf"), "hostssl codedetect codedetect 0.0.0.0/0 scram-sha-256\n");
    asPostgres(`${BIN}/pg_ctl -D ${pgDir}/data -w -o '-p ${pgPort} -k ${pgDir} -c listen_addresses=${gateway} -c ssl=on -c ssl_cert_file=${pgDir}/server.crt -c ssl_key_file=${pgDir}/server.key' -l ${pgDir}/log start >/dev/null`);
    pgStarted = true;
    const psql = (sql: string) => execFileSync(`${BIN}/psql`, ["-h", pgDir, "-p", String(pgPort), "-U", "app", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql], { encoding: "utf8" });
    psql(`CREATE ROLE codedetect LOGIN PASSWORD '${PASSWORD.replaceAll("'", "''")}'`);
    psql("CREATE DATABASE codedetect OWNER codedetect");

    process.env.AWS_ACCESS_KEY_ID = "test";
    process.env.AWS_SECRET_ACCESS_KEY = "test";
    moto = await startMoto();
    const client = new SecretsManagerClient({ region: "eu-west-1", endpoint: moto.url });
    const arn = (await client.send(new CreateSecretCommand({ Name: "rds!db-e2e", SecretString: JSON.stringify({ username: "codedetect", password: PASSWORD }) }))).ARN!;
    client.destroy();
    const bundle = fs.readFileSync(path.join(pgDir, "ca.pem"));
    trustStore = http.createServer((_, response) => response.end(bundle));
    await new Promise<void>((resolve) => trustStore!.listen(0, "127.0.0.1", resolve));

    port = await freePort();
    env = {
      AWS_ACCESS_KEY_ID: "test",
      AWS_SECRET_ACCESS_KEY: "test",
      CODEDETECT_PROJECT: project,
      COMPOSE_LOCK_DIR: path.join(root, "lock"),
      CODEDETECT_REGION: "eu-west-1",
      CODEDETECT_AWS_ENDPOINT: moto.url,
      CODEDETECT_DATABASE_SECRET_ARN: arn,
      CODEDETECT_DATABASE_ENDPOINT: `${gateway}:${pgPort}`,
      CODEDETECT_DATABASE_CA_URL: `http://127.0.0.1:${(trustStore.address() as AddressInfo).port}/global/global-bundle.pem`,
      CODEDETECT_DATABASE_CA_SHA256: createHash("sha256").update(bundle).digest("hex"),
    };
    args = ["--local", "--state-dir", path.join(root, "state"), "--shared-dir", path.join(root, "shared"), "--port", String(port)];
  });

  after(async () => {
    await docker(["compose", "--project-name", project, "down", "--remove-orphans"]).catch(() => undefined);
    const record = path.join(root, "state", "local-image.json");
    if (fs.existsSync(record)) await docker(["rmi", JSON.parse(fs.readFileSync(record, "utf8")).image.replace(/@.*/, "")]).catch(() => undefined);
    if (pgStarted) asPostgres(`${BIN}/pg_ctl -D ${pgDir}/data -w -m immediate stop >/dev/null`);
    moto?.stop();
    trustStore?.close();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(pgDir, { recursive: true, force: true });
  });

  it("brings the stack up on PostgreSQL: health says backend postgresql, an upload lands in PostgreSQL, the password only in the 0600 env file", async () => {
    const result = await runAgent(args, env, { full: true });
    assert.equal(result.code, 0, result.stderr + result.stdout);
    const health = (await (await fetch(`http://127.0.0.1:${port}/api/health`)).json()) as { checks: { database: { backend: string; ok: boolean } } };
    assert.equal(health.checks.database.backend, "postgresql");
    assert.equal(health.checks.database.ok, true);

    const form = new FormData();
    form.append("file", new Blob(["import os\nprint(os.getcwd())\n"]), "e2e.py");
    const upload = await fetch(`http://127.0.0.1:${port}/api/analyze`, { method: "POST", body: form });
    assert.equal(upload.status, 200, await upload.clone().text());
    const rows = execFileSync(`${BIN}/psql`, ["-h", pgDir, "-p", String(pgPort), "-U", "app", "-d", "codedetect", "-At", "-c", "SELECT count(*) FROM analysis"], { encoding: "utf8" }).trim();
    assert.equal(rows, "1");

    const state = path.join(root, "state");
    assert.equal(fs.statSync(path.join(state, "database.env")).mode & 0o777, 0o600);
    const encoded = encodeURIComponent(PASSWORD);
    const everywhere = [result.stdout, result.stderr, ...fs.readdirSync(state).filter((name) => name !== "database.env" && fs.statSync(path.join(state, name)).isFile()).map((name) => fs.readFileSync(path.join(state, name), "utf8"))];
    for (const text of everywhere) assert.ok(!text.includes(PASSWORD) && !text.includes(encoded) && !text.includes("e2e-p%40ss"), "the password leaked outside the env file");
    const logs = await docker(["compose", "--project-name", project, "logs", "--no-color"]);
    assert.ok(!logs.includes("e2e-p"), "the password is in the container's log");
    const mounts = JSON.parse(await docker(["inspect", "--format", "{{json .Mounts}}", `${project}-app-1`])) as { Destination: string; RW: boolean }[];
    assert.deepEqual(mounts.filter((m) => m.Destination === "/etc/codedetect/database-ca.pem").map((m) => m.RW), [false]);
  });
});

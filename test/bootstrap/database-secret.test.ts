// The agent's database hand-over against moto's Secrets Manager: a root-only env file whose DATABASE_URL the server accepts; bad secrets stop it without leaking.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { databaseEnvironment, DatabaseSecretError, handOverDatabase } from "../../bootstrap/database/secret.ts";
import { databaseTarget } from "../../server/store/postgres-url.ts";
import { tempDir } from "../helpers/server-process.ts";
import { motoUnavailable, startMoto } from "./loopback.ts";

const unavailable = motoUnavailable();
const skip = unavailable && process.env.CI !== "true" ? `moto suite skipped: ${unavailable}` : false;
const PASSWORD = "p@ss:w/rd?#%&é-9x";
let moto: Awaited<ReturnType<typeof startMoto>> | null = null;
let client: SecretsManagerClient;

before(async () => {
  if (skip) return;
  process.env.AWS_ACCESS_KEY_ID = "test";
  process.env.AWS_SECRET_ACCESS_KEY = "test";
  moto = await startMoto();
  client = new SecretsManagerClient({ region: "eu-west-1", endpoint: moto.url });
});
after(() => {
  client?.destroy();
  moto?.stop();
});

async function secret(name: string, value: string): Promise<string> {
  return (await client.send(new CreateSecretCommand({ Name: name, SecretString: value }))).ARN!;
}

test("the secret becomes a 0600 env file whose DATABASE_URL gives the server the exact user and password, TLS verified", { skip }, async () => {
  const arn = await secret("rds!db-good", JSON.stringify({ username: "codedetect", password: PASSWORD }));
  const envFile = path.join(tempDir(), "etc", "database.env");
  await handOverDatabase({ secretArn: arn, endpoint: "db.abc.eu-west-1.rds.amazonaws.com:5432", region: "eu-west-1", caFile: "/etc/codedetect/rds-ca.pem", envFile, awsEndpoint: moto!.url });
  assert.equal(fs.statSync(envFile).mode & 0o777, 0o600);
  const values = Object.fromEntries(fs.readFileSync(envFile, "utf8").trim().split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));
  assert.deepEqual(Object.keys(values), ["DATABASE_URL", "DATABASE_CA_FILE"]);
  const caFile = path.join(tempDir(), "ca.pem");
  fs.writeFileSync(caFile, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  const target = databaseTarget(values.DATABASE_URL!, caFile);
  assert.equal(target.config.password, PASSWORD);
  assert.equal(target.config.user, "codedetect");
  assert.equal(target.config.host, "db.abc.eu-west-1.rds.amazonaws.com");
  assert.equal(target.config.port, 5432);
  assert.equal(target.sslMode, "verify-full");
  assert.ok(!target.described.includes(PASSWORD));
});

test("a secret that is not {username, password}, or missing, stops the hand-over with one line, no file, no secret in it", { skip }, async () => {
  const cases: Array<[string, RegExp]> = [
    [await secret("rds!db-extra", JSON.stringify({ username: "u", password: PASSWORD, engine: "postgres" })), /is not \{username, password\}: \(root\): unrecognized_keys/],
    [await secret("rds!db-text", `not json ${PASSWORD}`), /is not JSON$/],
    [await secret("rds!db-empty", JSON.stringify({ username: "u", password: "" })), /password: too_small/],
    ["arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-missing-AbCdEf", /cannot read the database secret .*ResourceNotFoundException/],
  ];
  for (const [arn, expected] of cases) {
    const envFile = path.join(tempDir(), "database.env");
    const error = (await handOverDatabase({ secretArn: arn, endpoint: "db.example.com:5432", region: "eu-west-1", caFile: "/ca.pem", envFile, awsEndpoint: moto!.url }).then(() => assert.fail("handed over"), (e: Error) => e)) as Error;
    assert.ok(error instanceof DatabaseSecretError, error.message);
    assert.match(error.message, expected);
    assert.ok(!error.message.includes(PASSWORD));
    assert.ok(!error.message.includes("\n"));
    assert.equal(fs.existsSync(envFile), false);
  }
});

test("an endpoint that is not host:port is refused", () => {
  for (const endpoint of ["db.example.com", "db.example.com:0", "db.example.com:70000", "db example.com:5432", "db.example.com:5432/x"]) {
    assert.throws(() => databaseEnvironment({ username: "u", password: "p" }, endpoint, "/ca.pem"), /is not host:port/);
  }
});

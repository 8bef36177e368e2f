// The database step (RDS PostgreSQL): pure plans, then the real step against moto's Secrets Manager and a loopback HTTP server standing in for AWS's trust store. The password reaches only the 0600 env file: never a plan, the journal or a log line.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { describeAgentPlan } from "../../compose/actions.ts";
import { ConfigProblem, envLayer, resolveConfig, tagLayer, type Config } from "../../bootstrap/config.ts";
import { createAgentExecutor } from "../../bootstrap/executor.ts";
import { createOutput } from "../../bootstrap/output.ts";
import { stackModel } from "../../bootstrap/stack.ts";
import { runSteps, type Context } from "../../bootstrap/step.ts";
import { CONTAINER_CA_FILE, databaseStep, planDatabase, type DatabaseSeen } from "../../bootstrap/steps/database.ts";
import { runAgent, tempDir } from "./helpers.ts";
import { motoUnavailable, startMoto, startTrustStore } from "./loopback.ts";

const SHA = "d".repeat(64);
const ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123-AbCdEf";
const IMAGE = `registry.example.com/codedetect:v2@sha256:${"a".repeat(64)}`;
const rds = (over: Record<string, unknown> = {}): Config =>
  resolveConfig(true, { file: { stateDir: "/var/lib/codedetect", sharedDir: "/mnt/efs", databaseSecretArn: ARN, databaseEndpoint: "db.example.com:5432", databaseCaSha256: SHA, ...over } }).config;
const PASSWORD_IN_PLAN = "s3cr3t-in-the-plan";

describe("the database step's plan (pure)", () => {
  const seen = (over: Partial<Extract<DatabaseSeen, { configured: true }>>): DatabaseSeen => ({ configured: true, caSha256: null, wantedEnv: `DATABASE_URL=postgres://codedetect:${PASSWORD_IN_PLAN}@db.example.com:5432/codedetect\n`, envCurrent: false, ...over });

  it("SQLite (no database configured): nothing to do; credentials an earlier PostgreSQL configuration left are removed", () => {
    const sqlite = resolveConfig(true, {}).config;
    assert.deepEqual(planDatabase({ configured: false, leftovers: [] }, sqlite), []);
    assert.deepEqual(planDatabase({ configured: false, leftovers: ["/s/database.env"] }, sqlite), [{ kind: "remove", path: "/s/database.env", purpose: "the database is no longer PostgreSQL: its credentials go" }]);
  });

  it("fresh: the CA bundle downloaded only if its sha256 is the pinned one, then the env file written 0600 as a secret", () => {
    const actions = planDatabase(seen({}), rds());
    assert.deepEqual(actions.map((a) => a.kind), ["download", "write"]);
    assert.deepEqual(actions[0], { kind: "download", url: "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem", sha256: SHA, path: "/var/lib/codedetect/database-ca.pem", mode: 0o644 });
    assert.deepEqual({ ...actions[1], content: "…" }, { kind: "write", path: "/var/lib/codedetect/database.env", content: "…", mode: 0o600, sensitive: true });
    const printed = describeAgentPlan(actions);
    assert.doesNotMatch(printed, new RegExp(PASSWORD_IN_PLAN));
    assert.match(printed, /write \/var\/lib\/codedetect\/database\.env \(mode 0600, <\d+ bytes, redacted>\)/);
    assert.match(printed, new RegExp(`only if sha256 ${SHA}`));
  });

  it("a bundle that is not the pinned one is fetched again; a current env file and the pinned bundle: nothing", () => {
    assert.deepEqual(planDatabase(seen({ caSha256: "e".repeat(64), envCurrent: true }), rds()).map((a) => a.kind), ["download"]);
    assert.deepEqual(planDatabase(seen({ caSha256: SHA, envCurrent: true }), rds()), []);
    assert.deepEqual(planDatabase(seen({ caSha256: SHA, envCurrent: false }), rds()).map((a) => a.kind), ["write"]);
  });

  it("the stack then reads the env file and binds the CA bundle read-only; a SQLite stack has neither", () => {
    const model = stackModel(rds(), null, IMAGE);
    assert.equal(model.envFile, "/var/lib/codedetect/database.env");
    assert.deepEqual(model.readOnlyFiles, [{ source: "/var/lib/codedetect/database-ca.pem", target: CONTAINER_CA_FILE }]);
    const sqlite = stackModel(resolveConfig(true, { file: { stateDir: "/s", sharedDir: "/shared" } }).config, null, IMAGE);
    assert.ok(!("envFile" in sqlite) && !("readOnlyFiles" in sqlite));
  });
});

describe("the database settings", () => {
  it("come from the template's instance tags like every codedetect:<setting>", () => {
    const { config } = resolveConfig(false, { file: { fileSystemId: "fs-0123456789abcdef0" }, tags: tagLayer({ "codedetect:databaseSecretArn": ARN, "codedetect:databaseEndpoint": "db.example.com:5432", "codedetect:databaseCaSha256": SHA }) });
    assert.deepEqual([config.databaseSecretArn, config.databaseEndpoint, config.databaseCaSha256], [ARN, "db.example.com:5432", SHA]);
  });

  it("are all or none: a secret without its endpoint or CA pin stops the agent naming what is missing", () => {
    assert.throws(() => rds({ databaseCaSha256: null }), (error: unknown) => error instanceof ConfigProblem && /^databaseCaSha256: required with databaseSecretArn, databaseEndpoint/.test(error.message));
    assert.throws(() => rds({ databaseSecretArn: null, databaseEndpoint: null }), /databaseSecretArn, databaseEndpoint: required with databaseCaSha256/);
  });

  it("refuse what is not an ARN, host:port, a sha256 or an http(s) URL, naming the source", () => {
    const bad = (env: Record<string, string>, pattern: RegExp) => assert.throws(() => resolveConfig(true, { env: envLayer(env) }), pattern);
    bad({ CODEDETECT_DATABASE_SECRET_ARN: "my-secret" }, /databaseSecretArn \(from environment CODEDETECT_DATABASE_SECRET_ARN\): must look like "arn:aws:secretsmanager/);
    bad({ CODEDETECT_DATABASE_ENDPOINT: "db.example.com" }, /databaseEndpoint .*host|databaseEndpoint .*db\.example\.com:5432/);
    bad({ CODEDETECT_DATABASE_CA_SHA256: "D".repeat(64) }, /databaseCaSha256 .*64 lower-case hex/);
    bad({ CODEDETECT_DATABASE_CA_URL: "file:///etc/ssl/ca.pem" }, /databaseCaUrl/);
  });
});

const unavailable = motoUnavailable();
const skip = unavailable && process.env.CI !== "true" ? `moto suite skipped: ${unavailable}` : false;
const PASSWORD = "p@ss:w/rd?#%&é-9x$'\" (rotated)";
const BUNDLE = "-----BEGIN CERTIFICATE-----\nMIIBstand-in\n-----END CERTIFICATE-----\n";

describe("the database step against moto's Secrets Manager", { skip }, () => {
  let moto: Awaited<ReturnType<typeof startMoto>> | null = null;
  let client: SecretsManagerClient;
  let trustStore: Awaited<ReturnType<typeof startTrustStore>> | null = null;
  let served = BUNDLE;
  let storeUrl = "";

  before(async () => {
    process.env.AWS_ACCESS_KEY_ID = "test";
    process.env.AWS_SECRET_ACCESS_KEY = "test";
    moto = await startMoto();
    client = new SecretsManagerClient({ region: "eu-west-1", endpoint: moto.url });
    trustStore = await startTrustStore(() => served);
    storeUrl = trustStore.url;
  });
  after(() => {
    client?.destroy();
    moto?.stop();
    trustStore?.close();
  });

  const sha = (text: string) => createHash("sha256").update(text).digest("hex");
  async function setup(password: string) {
    const arn = (await client.send(new CreateSecretCommand({ Name: `rds!db-${Math.random().toString(36).slice(2)}`, SecretString: JSON.stringify({ username: "codedetect", password }) }))).ARN!;
    const root = tempDir("db-step");
    const env = {
      CODEDETECT_DATABASE_SECRET_ARN: arn,
      CODEDETECT_DATABASE_ENDPOINT: "db.example.com:5432",
      CODEDETECT_DATABASE_CA_SHA256: sha(BUNDLE),
      CODEDETECT_DATABASE_CA_URL: storeUrl,
      CODEDETECT_REGION: "eu-west-1",
      CODEDETECT_AWS_ENDPOINT: moto!.url,
    };
    const config = resolveConfig(true, { env: envLayer(env), file: { stateDir: path.join(root, "state"), sharedDir: path.join(root, "shared") } }).config;
    return { arn, root, env, config };
  }
  function context(config: Config, lines: string[]): Context {
    return { config, identity: null, tags: {}, aws: async () => assert.fail("no adapter"), out: createOutput(false, (text) => lines.push(text)) };
  }
  const everythingWritten = (stateDir: string, lines: string[]) => [fs.readFileSync(path.join(stateDir, "journal.json"), "utf8"), ...lines].join("\n");

  it("writes the pinned CA bundle and a 0600 env file with the exact credentials; re-run unchanged; a rotated password is rewritten", async () => {
    const { arn, config } = await setup(PASSWORD);
    const lines: string[] = [];
    const [first] = await runSteps([databaseStep], context(config, lines), createAgentExecutor());
    assert.equal(first!.outcome, "done");
    const envFile = path.join(config.stateDir, "database.env");
    assert.equal(fs.statSync(envFile).mode & 0o777, 0o600);
    const values = new Map(fs.readFileSync(envFile, "utf8").trim().split("\n").map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));
    const url = new URL(values.get("DATABASE_URL")!);
    assert.equal(decodeURIComponent(url.password), PASSWORD);
    assert.equal(`${url.hostname}:${url.port}${url.pathname}${url.search}`, "db.example.com:5432/codedetect?sslmode=verify-full");
    assert.equal(values.get("DATABASE_CA_FILE"), CONTAINER_CA_FILE);
    assert.equal(fs.readFileSync(path.join(config.stateDir, "database-ca.pem"), "utf8"), BUNDLE);
    assert.doesNotMatch(everythingWritten(config.stateDir, lines), /p@ss|rotated|p%40ss/);

    const [second] = await runSteps([databaseStep], context(config, []), createAgentExecutor());
    assert.equal(second!.outcome, "unchanged");

    await client.send(new PutSecretValueCommand({ SecretId: arn, SecretString: JSON.stringify({ username: "codedetect", password: "new-password-1" }) }));
    const [third] = await runSteps([databaseStep], context(config, []), createAgentExecutor());
    assert.deepEqual(third!.actions.map((line) => line.split(" ")[0]), ["write"]);
    assert.match(fs.readFileSync(envFile, "utf8"), /:new-password-1@/);
  });

  it("a bundle that is not the pinned one is refused: nothing written, both digests named, no env file either", async () => {
    const { config } = await setup(PASSWORD);
    served = `${BUNDLE}# tampered\n`;
    try {
      await assert.rejects(runSteps([databaseStep], context(config, []), createAgentExecutor()), (error: Error) => error.message.includes(`has sha256 ${sha(served)}, not the pinned ${sha(BUNDLE)}`));
    } finally {
      served = BUNDLE;
    }
    assert.deepEqual(fs.readdirSync(config.stateDir).filter((name) => name.startsWith("database")), []);
    assert.doesNotMatch(fs.readFileSync(path.join(config.stateDir, "journal.json"), "utf8"), /p@ss|rotated/);
  });

  it("a trust store that answers 404 or sends without end stops the step; nothing written", async () => {
    const { config } = await setup(PASSWORD);
    await assert.rejects(runSteps([databaseStep], context({ ...config, databaseCaUrl: storeUrl.replace("global-bundle", "missing") }, []), createAgentExecutor()), /answered 404/);
    served = "x".repeat(5 * 1024 * 1024);
    try {
      await assert.rejects(runSteps([databaseStep], context(config, []), createAgentExecutor()), /more than 4194304 bytes/);
    } finally {
      served = BUNDLE;
    }
    assert.deepEqual(fs.readdirSync(config.stateDir).filter((name) => name.startsWith("database")), []);
  });

  it("back on SQLite, the next run removes the env file and the bundle", async () => {
    const { config } = await setup(PASSWORD);
    await runSteps([databaseStep], context(config, []), createAgentExecutor());
    assert.ok(fs.existsSync(path.join(config.stateDir, "database.env")));
    const sqlite = { ...config, databaseSecretArn: null, databaseEndpoint: null, databaseCaSha256: null };
    const [report] = await runSteps([databaseStep], context(sqlite, []), createAgentExecutor());
    assert.equal(report!.outcome, "done");
    assert.deepEqual(fs.readdirSync(config.stateDir).filter((name) => name.startsWith("database")), []);
  });

  it("a secret that cannot be read stops the step naming the ARN and the reason; the env file is not touched", async () => {
    const { config } = await setup(PASSWORD);
    const missing = { ...config, databaseSecretArn: `${config.databaseSecretArn!}-gone` };
    await assert.rejects(runSteps([databaseStep], context(missing, []), createAgentExecutor()), /cannot read the database secret .*-gone: ResourceNotFoundException/);
    assert.equal(fs.existsSync(path.join(config.stateDir, "database.env")), false);
  });

  it("`bootstrap --dry-run` shows the plan with the env file redacted, and writes nothing; --json logs hold no password either", async () => {
    const { root, env } = await setup(PASSWORD);
    const args = ["--local", "--dry-run", "--until", "database", "--state-dir", path.join(root, "state"), "--shared-dir", path.join(root, "shared")];
    const text = await runAgent(args, env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^database:\n {2}get {3}http:\/\/127\.0\.0\.1:\d+\/global\/global-bundle\.pem -> .*database-ca\.pem .*\n {2}write .*database\.env \(mode 0600, <\d+ bytes, redacted>\)/m);
    const json = await runAgent([...args, "--json"], env);
    assert.equal(json.code, 0, json.stderr);
    for (const output of [text.stdout, text.stderr, json.stdout, json.stderr]) assert.doesNotMatch(output, /p@ss|p%40ss|rotated/);
    assert.equal(fs.existsSync(path.join(root, "state", "database.env")), false);
  });
});

// Supervise after an RDS password rotation: the pure decision refreshes database.env before each restart (only with PostgreSQL), and the refresh against moto's Secrets Manager rewrites the env file with the new password without it reaching a plan, the journal or a log line.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { envLayer, resolveConfig, type Config } from "../../bootstrap/config.ts";
import { createAgentExecutor } from "../../bootstrap/executor.ts";
import { createOutput } from "../../bootstrap/output.ts";
import { stackModel } from "../../bootstrap/stack.ts";
import { runSteps } from "../../bootstrap/step.ts";
import { databaseStep } from "../../bootstrap/steps/database.ts";
import { decide, describeSuperviseAction, INITIAL_STATE, type Decision, type SuperviseContext } from "../../bootstrap/supervise-plan.ts";
import { quietUnlessChanged, refreshContext, refreshDatabase } from "../../bootstrap/supervise-refresh.ts";
import { tempDir } from "./helpers.ts";
import { motoUnavailable, startMoto, startTrustStore } from "./loopback.ts";

const IMAGE = `registry.example.com/codedetect:v2@sha256:${"a".repeat(64)}`;
const ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123-AbCdEf";
const down = { health: { healthy: false, detail: "503 database unavailable" }, lifecycle: "InService", stopRequested: null };

function contextFor(config: Config): SuperviseContext {
  return { config, instanceId: "i-0123456789abcdef0", model: stackModel(config, null, IMAGE), balancer: null };
}

/** Failed polls until the first decision with actions (the restart). */
function firstRestart(ctx: SuperviseContext): Decision {
  let state = INITIAL_STATE;
  for (let poll = 0; poll < 100; poll += 1) {
    const decision = decide(state, down, ctx);
    if (decision.actions.length > 0) return decision;
    state = decision.state;
  }
  return assert.fail("no restart after 100 failed polls");
}

describe("supervise's restart with PostgreSQL (pure)", () => {
  const file = { stateDir: "/var/lib/codedetect", sharedDir: "/mnt/efs", superviseFailuresBeforeRestart: 3 };
  const sqlite = resolveConfig(true, { file }).config;
  const postgres = resolveConfig(true, { file: { ...file, databaseSecretArn: ARN, databaseEndpoint: "db.example.com:5432", databaseCaSha256: "d".repeat(64) } }).config;

  it("after the failures: refresh database.env from the secret, then a new container beside the old one through the runner (it reads the env file; gated before the old one goes)", () => {
    const decision = firstRestart(contextFor(postgres));
    assert.deepEqual(decision.actions.map((action) => action.kind), ["refresh-database", "stack-replace"]);
    assert.match(describeSuperviseAction(decision.actions[0]!), /^refresh database\.env from the current secret/);
  });

  it("without PostgreSQL: the restart only, no secret read", () => {
    assert.deepEqual(firstRestart(contextFor(sqlite)).actions.map((action) => action.kind), ["stack-replace"]);
  });

  it("the periodic secret check rewrote database.env: the container is replaced at once (no refresh again), even while healthy; a stop request still wins", () => {
    const healthy = { health: { healthy: true, detail: "200 ok" }, lifecycle: "InService", stopRequested: null };
    const rotated = decide(INITIAL_STATE, { ...healthy, databaseRotated: true }, contextFor(postgres));
    assert.deepEqual(rotated.actions.map((action) => action.kind), ["stack-replace"]);
    assert.match(rotated.note!, /database secret changed/);
    assert.equal(rotated.state.restarts, 0, "not counted towards replacing the instance");
    assert.deepEqual(decide(INITIAL_STATE, { ...healthy, databaseRotated: false }, contextFor(postgres)).actions, []);
    const stopping = decide(INITIAL_STATE, { ...healthy, stopRequested: "SIGTERM", databaseRotated: true }, contextFor(postgres));
    assert.ok(stopping.exit && stopping.actions.every((action) => action.kind !== "stack-replace"));
  });

  it("every restart refreshes again (a rotation can land between two restarts)", () => {
    let state = INITIAL_STATE;
    const kinds: string[][] = [];
    for (let poll = 0; poll < 6; poll += 1) {
      const decision = decide(state, down, contextFor(postgres));
      state = decision.state;
      if (decision.actions.length > 0) kinds.push(decision.actions.map((action) => action.kind));
    }
    assert.deepEqual(kinds, [["refresh-database", "stack-replace"], ["refresh-database", "stack-replace"]]);
  });
});

const unavailable = motoUnavailable();
const skip = unavailable && process.env.CI !== "true" ? `moto suite skipped: ${unavailable}` : false;
const OLD_PASSWORD = "old-p@ss-before-rotation";
const NEW_PASSWORD = "n3w/p@ss:after-rotation?#";
const BUNDLE = "-----BEGIN CERTIFICATE-----\nMIIBstand-in\n-----END CERTIFICATE-----\n";

// The container restart itself needs Docker and is covered by the local-stack suite; here the refresh action is performed through the database step for real (moto's Secrets Manager, a loopback trust store) and the run/wait actions are only checked to come after it.
describe("supervise's refresh after a rotation, against moto's Secrets Manager", { skip }, () => {
  let moto: Awaited<ReturnType<typeof startMoto>> | null = null;
  let client: SecretsManagerClient;
  let trustStore: Awaited<ReturnType<typeof startTrustStore>> | null = null;
  let storeUrl = "";

  before(async () => {
    process.env.AWS_ACCESS_KEY_ID = "test";
    process.env.AWS_SECRET_ACCESS_KEY = "test";
    moto = await startMoto();
    client = new SecretsManagerClient({ region: "eu-west-1", endpoint: moto.url });
    trustStore = await startTrustStore(() => BUNDLE);
    storeUrl = trustStore.url;
  });
  after(() => {
    client?.destroy();
    moto?.stop();
    trustStore?.close();
  });

  async function bootstrapped() {
    const arn = (await client.send(new CreateSecretCommand({ Name: `rds!db-${Math.random().toString(36).slice(2)}`, SecretString: JSON.stringify({ username: "codedetect", password: OLD_PASSWORD }) }))).ARN!;
    const root = tempDir("supervise-refresh");
    const env = {
      CODEDETECT_DATABASE_SECRET_ARN: arn,
      CODEDETECT_DATABASE_ENDPOINT: "db.example.com:5432",
      CODEDETECT_DATABASE_CA_SHA256: createHash("sha256").update(BUNDLE).digest("hex"),
      CODEDETECT_DATABASE_CA_URL: storeUrl,
      CODEDETECT_REGION: "eu-west-1",
      CODEDETECT_AWS_ENDPOINT: moto!.url,
    };
    const config = resolveConfig(true, { env: envLayer(env), file: { stateDir: path.join(root, "state"), sharedDir: path.join(root, "shared"), superviseFailuresBeforeRestart: 2 } }).config;
    const lines: string[] = [];
    const ctx = refreshContext(config, null, async () => assert.fail("no adapter"), createOutput(false, (text) => lines.push(text)));
    const [report] = await runSteps([databaseStep], ctx, createAgentExecutor());
    assert.equal(report!.outcome, "done");
    return { arn, config, ctx, lines, envFile: path.join(config.stateDir, "database.env") };
  }
  const passwordIn = (envFile: string) => decodeURIComponent(new URL(/^DATABASE_URL=(.*)$/m.exec(fs.readFileSync(envFile, "utf8"))![1]!).password);
  const secretPattern = /p@ss|p%40ss|rotation/;

  it("the restart path rewrites database.env (0600) with the new password before the replacement container is created; nothing prints the password", async () => {
    const { arn, config, ctx, lines, envFile } = await bootstrapped();
    assert.equal(passwordIn(envFile), OLD_PASSWORD);
    await client.send(new PutSecretValueCommand({ SecretId: arn, SecretString: JSON.stringify({ username: "codedetect", password: NEW_PASSWORD }) }));

    const decision = firstRestart(contextFor(config));
    const performed: string[] = [];
    for (const action of decision.actions) {
      if (action.kind === "refresh-database") performed.push(`refresh ${await refreshDatabase(ctx, createAgentExecutor())}`);
      else performed.push(`${action.kind} (needs Docker: not performed here)`);
    }
    assert.deepEqual(performed, ["refresh rewritten", "stack-replace (needs Docker: not performed here)"]);
    assert.equal(passwordIn(envFile), NEW_PASSWORD);
    assert.equal(fs.statSync(envFile).mode & 0o777, 0o600);

    const printed = [decision.note ?? "", ...decision.actions.map(describeSuperviseAction), ...lines, fs.readFileSync(path.join(config.stateDir, "journal.json"), "utf8")].join("\n");
    assert.match(printed, /database\.env \(mode 0600, <\d+ bytes, redacted>\)/, "the rewrite is logged, redacted");
    assert.doesNotMatch(printed, secretPattern);
  });

  it("no rotation: the refresh leaves the env file as it is, and the periodic check logs nothing", async () => {
    const { ctx, envFile } = await bootstrapped();
    const before = fs.statSync(envFile).mtimeMs;
    const lines: string[] = [];
    const quiet = { ...ctx, out: quietUnlessChanged(createOutput(false, (text) => lines.push(text))) };
    assert.equal(await refreshDatabase(quiet, createAgentExecutor()), "unchanged");
    assert.equal(fs.statSync(envFile).mtimeMs, before);
    assert.deepEqual(lines, []);
  });

  it("a secret that cannot be read: the refresh fails naming the ARN, the old env file stays, and no password is in the error", async () => {
    const { config, ctx, envFile } = await bootstrapped();
    const gone = { ...ctx, config: { ...config, databaseSecretArn: `${config.databaseSecretArn!}-gone` } };
    await assert.rejects(refreshDatabase(gone, createAgentExecutor()), (error: Error) => /-gone: ResourceNotFoundException/.test(error.message) && !secretPattern.test(error.message));
    assert.equal(passwordIn(envFile), OLD_PASSWORD);
  });
});

// Configuration: defaults < config file < instance tags < environment < flags; strict; errors name the field and its source; secrets redacted.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { describeConfig, envLayer, fileLayer, flagLayer, resolveConfig, tagLayer, type Layers } from "../../bootstrap/config.ts";
import { runAgent, tempDir } from "./helpers.ts";
import { IMAGE_PATTERN } from "../../cloudformation/template/settings.ts";

function configFile(content: unknown): string {
  const file = path.join(tempDir("config"), "bootstrap.json");
  fs.writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

describe("resolveConfig", () => {
  it("each source overrides the ones before it, and each value says where it came from", () => {
    const layers: Layers = {
      file: fileLayer(configFile({ port: 5001, image: "repo:file@sha256:" + "a".repeat(64), fileSystemId: "fs-0123456789abcdef0", stateDir: "/var/lib/x" })),
      tags: tagLayer({ "codedetect:port": "5002", "codedetect:image": "repo:tag@sha256:" + "b".repeat(64), Name: "web" }),
      env: envLayer({ CODEDETECT_PORT: "5003", PATH: "/bin" }),
      flags: flagLayer({ port: "5004" }),
    };
    const { config, sources } = resolveConfig(false, layers);
    assert.equal(config.port, 5004);
    assert.equal(sources.port, "flag");
    assert.equal(config.image, "repo:tag@sha256:" + "b".repeat(64));
    assert.equal(sources.image, "tag");
    assert.equal(sources.fileSystemId, "file");
    assert.equal(config.stateDir, "/var/lib/x");
    assert.equal(sources.migrateLeaseSeconds, "default");
    const { config: withoutFlag } = resolveConfig(false, { ...layers, flags: {} });
    assert.equal(withoutFlag.port, 5003, "environment over tags");
    const { config: withoutEnv } = resolveConfig(false, { ...layers, flags: {}, env: {} });
    assert.equal(withoutEnv.port, 5002, "tags over the file");
  });

  it("takes an image pinned by digest alone (a tag is optional) and refuses one without a digest, as the template's ImageUri pattern does", () => {
    const digestOnly = `127.0.0.1:5000/codedetect@sha256:${"c".repeat(64)}`;
    assert.equal(resolveConfig(true, { env: envLayer({ CODEDETECT_IMAGE: digestOnly }) }).config.image, digestOnly);
    assert.throws(() => resolveConfig(true, { env: envLayer({ CODEDETECT_IMAGE: "127.0.0.1:5000/codedetect:latest" }) }), /image \(from environment CODEDETECT_IMAGE\): must be "repository\[:tag\]@sha256:<64 hex digits>"/);
    const pattern = new RegExp(IMAGE_PATTERN);
    for (const good of [digestOnly, `123456789012.dkr.ecr.eu-west-1.amazonaws.com/codedetect:3.0.0@sha256:${"a".repeat(64)}`]) assert.ok(pattern.test(good), good);
    for (const bad of ["codedetect:latest", `codedetect@sha256:${"A".repeat(64)}`, `codedetect:v1@sha256:abc`]) assert.ok(!pattern.test(bad), bad);
  });

  it("refuses a bad value naming the field and the source it came from", () => {
    assert.throws(() => resolveConfig(true, { env: envLayer({ CODEDETECT_PORT: "http" }) }), /^ConfigProblem: port \(from environment CODEDETECT_PORT\): .*expected number/);
    assert.throws(() => resolveConfig(true, { flags: flagLayer({ port: "70000" }) }), /^ConfigProblem: port \(from flag\): Too big/);
    assert.throws(() => resolveConfig(false, { tags: tagLayer({ "codedetect:fileSystemId": "efs-1" }) }), /fileSystemId \(from instance tag\): must look like "fs-0123456789abcdef0"/);
    assert.throws(() => resolveConfig(false, {}), /fileSystemId: is required outside --local/);
    assert.throws(() => resolveConfig(true, { flags: flagLayer({ sharedDir: "/srv/shared", migrateFrom: "/srv/shared/codedetect" }) }), /^ConfigProblem: migrateFrom: \/srv\/shared\/codedetect overlaps the shared directory \/srv\/shared/);
  });

  it("refuses a stack name or logical ID SignalResource would refuse, and takes a stack's name or its ID", () => {
    const id = "arn:aws:cloudformation:eu-west-1:123456789012:stack/prod/8f2d1a40-52c7-11ef-9a6b-0a1b2c3d4e5f";
    for (const stackName of ["prod", "Prod-2", "p".repeat(128), id]) assert.equal(resolveConfig(true, { file: fileLayer(configFile({ stackName })) }).config.stackName, stackName);
    for (const stackName of ["2prod", "prod_2", "prod.eu", "p".repeat(129), "arn:aws:cloud formation:eu-west-1:123456789012:stack/prod", "arn:aws-xx:cloudformation:eu-west-1:123456789012:stack/prod"]) {
      assert.throws(() => resolveConfig(true, { file: fileLayer(configFile({ stackName })) }), /stackName \(config file .*\): must be a stack name \(a letter, then letters, digits and hyphens, up to 128\) or a stack ID/, stackName);
    }
    assert.throws(() => resolveConfig(true, { file: fileLayer(configFile({ logicalResourceId: "App-Group" })) }), /logicalResourceId \(config file .*\): must be a logical resource ID/);
  });

  it("the config file is strict: unknown fields, wrong types and non-JSON are refused with the file's name", () => {
    assert.throws(() => fileLayer(configFile({ prot: 5000 })), /prot \(config file .*bootstrap.json\): is not a known setting/);
    assert.throws(() => fileLayer(configFile({ port: "5000" })), /port \(config file .*\): Invalid input: expected number, received string/);
    assert.throws(() => fileLayer(configFile("{ port: 1")), /--config: .* is not JSON/);
    assert.throws(() => fileLayer("/nonexistent/bootstrap.json"), /--config: cannot read \/nonexistent\/bootstrap.json: ENOENT/);
  });

  it("tags may change only what differs between groups of instances", () => {
    assert.throws(() => tagLayer({ "codedetect:stateDir": "/tmp/x" }), /tag codedetect:stateDir: is not a setting tags may change/);
    assert.deepEqual(tagLayer({ Name: "web", "aws:autoscaling:groupName": "g" }), {});
  });

  it("a mode named by the environment or the file picks that mode's defaults too", () => {
    const { config, sources } = resolveConfig(false, { env: envLayer({ CODEDETECT_MODE: "local" }) });
    assert.equal(config.mode, "local");
    assert.equal(sources.mode, "env");
    assert.equal(config.stateDir, path.resolve(".codedetect/state"));
    assert.equal(config.fileSystemId, null, "no file system needed locally");
  });

  it("secrets are redacted in the printout", () => {
    const resolved = resolveConfig(true, { env: envLayer({ CODEDETECT_REGISTRY_AUTH: "user:hunter2" }) });
    const row = describeConfig(resolved).find((entry) => entry.key === "registryAuth")!;
    assert.deepEqual(row, { key: "registryAuth", value: "<redacted>", source: "env" });
    assert.equal(JSON.stringify(describeConfig(resolved)).includes("hunter2"), false);
  });
});

describe("the bootstrap command line", () => {
  it("bad configuration or usage exits 2 with one line naming the field", async () => {
    const cases: [string[], RegExp][] = [
      [["--local", "--port", "0"], /^bootstrap: bad configuration: port \(from flag\): Too small: expected number to be >=1\n$/],
      [["--frobnicate"], /^bootstrap: bad configuration: usage: Unknown option '--frobnicate'.*\n$/],
      [["--local", "--only", "dance"], /^bootstrap: bad configuration: --only: "dance" is not a step; the steps are identify, mount, layout, migrate, database, image, start, launch, verify, signal\n$/],
      [["--local", "--config", configFile({ mode: "local", extra: 1 })], /^bootstrap: bad configuration: extra \(config file .*\): is not a known setting\n$/],
      [["launch"], /^bootstrap: bad configuration: usage: unknown command "launch"/],
    ];
    for (const [args, expected] of cases) {
      const result = await runAgent(args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
      assert.match(result.stderr, expected);
      assert.equal(result.stderr.split("\n").length, 2, "one line");
    }
  });

  it("with --json the failure is one JSON object naming the field", async () => {
    const result = await runAgent(["--local", "--json", "--port", "x"]);
    assert.equal(result.code, 2);
    const line = JSON.parse(result.stdout.trim());
    assert.equal(line.class, "config");
    assert.match(line.field, /^port \(from flag\)$/);
  });

  it("status prints the resolved configuration with sources, secrets redacted, as JSON too", async () => {
    const root = tempDir("status");
    const env = { CODEDETECT_REGISTRY_AUTH: "user:hunter2" };
    const args = ["--local", "--state-dir", path.join(root, "state"), "--shared-dir", path.join(root, "shared")];
    assert.equal((await runAgent(args, env)).code, 0);
    const status = await runAgent(["status", "--json", ...args, "--port", "5010"], env);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(status.stdout.includes("hunter2"), false);
    const report = JSON.parse(status.stdout);
    assert.deepEqual(report.config.find((row: { key: string }) => row.key === "port"), { key: "port", value: 5010, source: "flag" });
    assert.deepEqual(report.config.find((row: { key: string }) => row.key === "registryAuth"), { key: "registryAuth", value: "<redacted>", source: "env" });
    assert.deepEqual(Object.keys(report.steps), ["identify", "mount", "layout", "migrate"]);
    assert.equal(report.steps.layout.outcome, "done");
    const text = await runAgent(["status", ...args], env);
    assert.match(text.stdout, /^ {2}registryAuth +"<redacted>" +\(env\)$/m);
  });

  it("status after a local run (npm start) reads what the state directory records: no flag restated, the run's own flags shown as flags", async () => {
    const cwd = tempDir("status-local");
    const ran = await runAgent(["--local", "--port", "5077", "--shared-dir", path.join(cwd, "efs")], {}, { cwd });
    assert.equal(ran.code, 0, ran.stderr);
    const status = await runAgent(["status", "--json"], {}, { cwd });
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout);
    const row = (key: string) => report.config.find((entry: { key: string }) => entry.key === key);
    assert.deepEqual(row("mode"), { key: "mode", value: "local", source: "flag" });
    assert.deepEqual(row("port"), { key: "port", value: 5077, source: "flag" });
    assert.deepEqual(row("sharedDir"), { key: "sharedDir", value: path.join(cwd, "efs"), source: "flag" });
    assert.equal(row("stateDir").value, path.join(cwd, ".codedetect", "state"));
    assert.equal(report.steps.layout.outcome, "done");
    assert.equal(report.stack.url, "http://127.0.0.1:5077");
  });

  it("status refuses a state directory record it cannot trust in one line naming the file: not JSON, an unknown field, a directory", async () => {
    const stateDir = path.join(tempDir("status-odd"), "state");
    const record = path.join(stateDir, "config.json");
    const cases: [string, () => void, RegExp][] = [
      ["not JSON", () => fs.writeFileSync(record, "{"), /is not JSON/],
      ["an unknown field", () => fs.writeFileSync(record, JSON.stringify({ version: 1, local: true, recordedAt: "2026-01-01T00:00:00Z", file: { evil: 1 }, env: {}, flags: {} })), /does not fit its schema at file: Unrecognized key: "evil"/],
      ["a directory", () => (fs.rmSync(record, { force: true }), fs.mkdirSync(record)), /cannot be read \(EISDIR\)/],
    ];
    fs.mkdirSync(stateDir, { recursive: true });
    for (const [what, make, cause] of cases) {
      make();
      const status = await runAgent(["status", "--state-dir", stateDir]);
      assert.equal(status.code, 2, what);
      assert.equal(status.stderr.trim().split("\n").length, 1, `${what}: ${status.stderr}`);
      assert.ok(status.stderr.includes(record), `${what}: ${status.stderr}`);
      assert.match(status.stderr, cause, what);
    }
  });

  it("status with no run recorded where it looks says where it looked and what to give, in one line (exit 2)", async () => {
    const cwd = tempDir("status-none");
    const status = await runAgent(["status"], {}, { cwd });
    if (fs.existsSync("/var/lib/codedetect/config.json")) return; // an instance's own record would be read: nothing to refuse on such a host
    assert.equal(status.code, 2);
    assert.match(status.stderr, /^bootstrap: bad configuration: status: no agent run is recorded in \/var\/lib\/codedetect or .*\/\.codedetect\/state \(fileSystemId: is required outside --local.*\); name the instance's state directory with --state-dir, or run `npm run bootstrap` first\n$/);
  });

  it("--only STEP refuses while an earlier step is not done (never migrates into an unmounted place), then applies only STEP", async () => {
    const root = tempDir("only");
    const args = ["--local", "--state-dir", path.join(root, "state"), "--shared-dir", path.join(root, "shared")];
    const early = await runAgent([...args, "--only", "layout"]);
    assert.equal(early.code, 1);
    assert.match(early.stderr, /^bootstrap: step identify: check before --only layout: this earlier step is not done \(it would: write .*identity\.json.*\); next: run `npm run bootstrap` without --only, or --only identify first\n$/);
    assert.equal(fs.existsSync(path.join(root, "shared")), false);
    assert.equal((await runAgent([...args, "--only", "identify"])).code, 0);
    assert.equal((await runAgent([...args, "--only", "mount"])).code, 0);
    const layout = await runAgent([...args, "--only", "layout"]);
    assert.equal(layout.code, 0, layout.stderr);
    assert.match(layout.stdout, /^layout: done/m);
    assert.doesNotMatch(layout.stdout, /^migrate:/m);
    assert.equal(fs.statSync(path.join(root, "shared", "codedetect", "uploads")).isDirectory(), true);
  });

  it("--dry-run prints every step's plan and changes nothing", async () => {
    const root = tempDir("dry");
    const result = await runAgent(["--local", "--dry-run", "--state-dir", path.join(root, "state"), "--shared-dir", path.join(root, "shared")]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^layout:\n {2}mkdir .*\/shared\/codedetect \(mode 0750/m);
    assert.deepEqual(fs.readdirSync(root), []);
  });
});

describe("region", () => {
  const withRegion = (region: string) => resolveConfig(true, { env: envLayer({ CODEDETECT_REGION: region }) }).config.region;

  it("accepts every shape of AWS region name: commercial, GovCloud, China, ISO, the European Sovereign Cloud", () => {
    for (const region of ["eu-west-1", "ap-southeast-5", "us-gov-west-1", "cn-northwest-1", "us-isob-east-1", "eusc-de-east-1", "il-central-1", "ca-west-1", "me-south-1"]) {
      assert.equal(withRegion(region), region);
    }
  });

  it("refuses what is not a region name: a zone, a word, upper case, a missing number, empty words", () => {
    for (const bad of ["eu-west-1a", "Europe", "EU-WEST-1", "eu-west", "eu--west-1", "eu-west-01", "eu_west_1", " eu-west-1", "e-west-1", "europe-west-1", "eu-west-1-"]) {
      assert.throws(() => withRegion(bad), /^ConfigProblem: region \(from environment CODEDETECT_REGION\): must look like "eu-west-1"/, bad);
    }
  });
});

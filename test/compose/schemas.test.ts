// What the runner reads (stack file, state.json, auth file) is held to one strict schema each: wrong shapes are precise refusals, never TypeErrors.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { execa } from "execa";
import { parseRegistryAuth, readAuthFile } from "../../compose/credentials.ts";
import { ComposeError } from "../../compose/errors.ts";
import { defineStack, imageRefString } from "../../compose/model.ts";
import { parseState, serializeState } from "../../compose/state.ts";
import { REPO_ROOT } from "./docker-harness.ts";
import { DIGEST_1, DIGEST_2, REPO } from "./fixtures.ts";

const refusal = (pattern: RegExp) => (error: unknown) => error instanceof ComposeError && error.exitCode === 2 && pattern.test(error.message);
const base = { image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs" };
const v1 = defineStack(base);
const goodState = { project: "codedetect", current: v1, pending: null, history: [{ image: imageRefString(v1.image), deployedAt: "2026-01-01T00:00:00.000Z" }] };
const FILE = "/var/lib/codedetect/state.json";

describe("the stack schema", () => {
  it("refuses a null stack, an array, and a stack without image, naming what is missing", () => {
    assert.throws(() => defineStack(null), refusal(/^stack: must be a JSON object with at least image and efsRoot, got null; next: /));
    assert.throws(() => defineStack([]), refusal(/got an array/));
    assert.throws(() => defineStack({ efsRoot: "/mnt/efs" }), refusal(/^image: Invalid input: expected string, received undefined; next: fix image/));
  });

  it("refuses unknown fields (a hostport typo) instead of ignoring them", () => {
    assert.throws(() => defineStack({ ...base, hostport: 8080 }), refusal(/^hostport: unknown field "hostport"; next: fix hostport in the stack configuration \(fields: image, efsRoot, /));
    assert.throws(() => defineStack({ ...base, health: { retry: 3 } }), refusal(/^health\.retry: unknown field "retry"/));
  });

  it("refuses wrong types where a default would have hidden them", () => {
    assert.throws(() => defineStack({ ...base, hostPort: "8080" }), refusal(/^hostPort: Invalid input: expected number, received string/));
    assert.throws(() => defineStack({ ...base, environment: { LOG_LEVEL: 3 } }), refusal(/^environment\.LOG_LEVEL: /));
    assert.throws(() => defineStack({ ...base, restart: "sometimes" }), refusal(/^restart: /));
  });

  it("validates bindAddress as an IP address: 999.999.999.999 and names are refused, v4 and v6 pass", () => {
    for (const bad of ["999.999.999.999", "1.2.3", "localhost", "::g", ""]) {
      assert.throws(() => defineStack({ ...base, bindAddress: bad }), refusal(/^bindAddress: is not an IP address/), bad);
    }
    assert.equal(defineStack({ ...base, bindAddress: "127.0.0.1" }).port.bind, "127.0.0.1");
    assert.equal(defineStack({ ...base, bindAddress: "::1" }).port.bind, "::1");
  });
});

describe("the state schema", () => {
  it("accepts what the runner writes, and no state file is no state", () => {
    assert.deepEqual(parseState(serializeState(goodState), FILE), goodState);
    assert.equal(parseState(null, FILE), null);
  });

  it("refuses wrong shapes with one line naming the file and the field", () => {
    const cases: [unknown, RegExp][] = [
      [{ current: {} }, /field project: Invalid input/],
      [{ ...goodState, current: {} }, /field current\.project: /],
      [{ ...goodState, current: { ...v1, image: "x" } }, /field current\.image: /],
      [{ ...goodState, history: "none" }, /field history: /],
      [{ ...goodState, history: [{ image: imageRefString(v1.image), deployedAt: 5 }] }, /field history\.0\.deployedAt: /],
      [{ ...goodState, extra: true }, /field extra: unknown field "extra"/],
      [{ ...goodState, current: { ...v1, port: { ...v1.port, bind: "999.999.999.999" } } }, /field current\.port\.bind: is not an IP address/],
      [{ ...goodState, current: { ...v1, project: "other" } }, /field current\.project: is "other", not the directory's project "codedetect"/],
      [[], /field \(root\): /],
      [null, /field \(root\): /],
    ];
    for (const [value, pattern] of cases) {
      assert.throws(() => parseState(JSON.stringify(value), FILE), (error: unknown) => refusal(new RegExp(`^${FILE} field `))(error) && pattern.test((error as Error).message), JSON.stringify(value));
    }
  });

  it("refuses a truncated file and a history that repeats a digest", () => {
    const text = serializeState(goodState);
    assert.throws(() => parseState(text.slice(0, text.length / 2), FILE), refusal(/field \(root\): is not valid JSON .*; next: the runner changes nothing while it cannot trust its record; move the file aside/));
    const twice = { ...goodState, history: [{ image: `${REPO}:v2@${DIGEST_1}`, deployedAt: "2026-01-02T00:00:00.000Z" }, ...goodState.history] };
    assert.throws(() => parseState(JSON.stringify(twice), FILE), refusal(/field history\.1\.image: repeats the digest of an earlier record/));
    const distinct = { ...goodState, history: [{ image: `${REPO}:v2@${DIGEST_2}`, deployedAt: "2026-01-02T00:00:00.000Z" }, ...goodState.history] };
    assert.equal(parseState(JSON.stringify(distinct), FILE)?.history.length, 2);
  });
});

describe("the credentials schema and file", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cdrun-auth-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, value: unknown, mode: number) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, typeof value === "string" ? value : JSON.stringify(value));
    fs.chmodSync(file, mode);
    return file;
  };

  it("refuses {} and unknown or empty fields: no registry named undefined", () => {
    assert.throws(() => parseRegistryAuth({}, "auth.json"), refusal(/^auth file auth\.json field registry: Invalid input/));
    assert.throws(() => parseRegistryAuth({ registry: "127.0.0.1:5000", username: "u", password: "" }, "a"), refusal(/field password: is empty/));
    assert.throws(() => parseRegistryAuth({ registry: "https://x.example/v2", username: "u", password: "p" }, "a"), refusal(/field registry: is not a registry host/));
    assert.throws(() => parseRegistryAuth({ registry: "x.example", username: "u", password: "p", token: "t" }, "a"), refusal(/field token: unknown field "token"/));
  });

  it("refuses an auth file others can read, with the fix; accepts it at 0600", () => {
    const value = { registry: "registry.example:5000", username: "deployer", password: "s3cret" };
    const open = write("open.json", value, 0o644);
    assert.throws(() => readAuthFile(open), refusal(new RegExp(`^auth file ${open}: holds a password and is accessible to others \\(mode 0644\\); next: chmod 600 ${open}$`)));
    assert.throws(() => readAuthFile(write("group.json", value, 0o640)), refusal(/mode 0640/));
    assert.deepEqual(readAuthFile(write("private.json", value, 0o600)), value);
    assert.throws(() => readAuthFile(write("broken.json", "{", 0o600)), refusal(/is not valid JSON/));
  });
});

describe("the CLI's refusals", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cdrun-cli-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const cli = (args: string[]) => execa(process.execPath, [path.join(REPO_ROOT, "compose/cli.ts"), ...args], { reject: false, env: { COMPOSE_LOCK_DIR: path.join(dir, "lock") } });
  const stack = (name: string, value: unknown) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify(value));
    return file;
  };

  it("a null stack, a missing image, a typo: exit 2 and one line naming the file and the field, no TypeError", async () => {
    for (const [value, pattern] of [
      [null, /^compose: stack file \S+ field stack: must be a JSON object/],
      [{ efsRoot: "/mnt/efs" }, /^compose: stack file \S+ field image: Invalid input: expected string, received undefined; next: /],
      [{ ...base, hostport: 1 }, /^compose: stack file \S+ field hostport: unknown field "hostport"; next: /],
    ] as [unknown, RegExp][]) {
      const result = await cli(["render", "--stack", stack("s.json", value)]);
      assert.equal(result.exitCode, 2, result.stderr);
      assert.match(result.stderr, pattern);
      assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
      assert.doesNotMatch(result.stderr, /TypeError|at .*\.ts:\d+/);
    }
  });

  it("--json applies to every error, argument errors included, with one next", async () => {
    for (const args of [["render", "--stack", stack("n.json", null)], ["up", "--bogus"], ["frobnicate"], ["up", "--auth-file", path.join(dir, "none.json"), "--stack", stack("ok.json", base)]]) {
      const result = await cli([...args, "--json"]);
      assert.equal(result.exitCode, 2, `${args.join(" ")}: ${result.stderr}`);
      const parsed = JSON.parse(result.stderr) as { error: string; cause: string; next: string; class: string };
      assert.equal(parsed.class, "config");
      assert.ok(parsed.next.length > 0 && !parsed.cause.includes("next:"), result.stderr);
    }
  });

  it("status and down without --project in a directory that records none say so precisely; down of an unknown project creates nothing", async () => {
    const missing = path.join(dir, "no-such-state");
    const status = await cli(["status", "--state-dir", missing]);
    assert.equal(status.exitCode, 2);
    assert.match(status.stderr, new RegExp(`^compose: project: the state directory ${missing} does not exist; next: pass --project NAME`));
    const empty = fs.mkdtempSync(path.join(dir, "empty-"));
    const down = await cli(["down", "--state-dir", empty]);
    assert.equal(down.exitCode, 2);
    assert.match(down.stderr, /records no project \(it holds neither state\.json nor compose\.yaml\)/);
    assert.equal(fs.existsSync(missing), false);
  });
});

// The stack's env_file (DATABASE_URL, root-only) and read-only files (the database's CA bundle): modelled strictly, rendered, kept by state.json, and read by the real `docker compose config`.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import YAML from "yaml";
import { ComposeError } from "../../compose/errors.ts";
import { defineStack } from "../../compose/model.ts";
import { renderCompose } from "../../compose/render.ts";
import { stackModelSchema } from "../../compose/stack-schema.ts";
import { describeDocker, docker, dockerUnavailable } from "./docker-harness.ts";
import { DIGEST_1, REPO } from "./fixtures.ts";

const base = { image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs" };
const database = { ...base, envFile: "/var/lib/codedetect/database.env", readOnlyFiles: [{ source: "/var/lib/codedetect/database-ca.pem", target: "/etc/codedetect/database-ca.pem" }] };

function refused(input: unknown, pattern: RegExp): void {
  assert.throws(() => defineStack(input), (error: unknown) => error instanceof ComposeError && pattern.test(error.message));
}

describe("env_file and read-only files in the model", () => {
  it("render as Compose's env_file (required) and a read-only bind that Docker may not create", () => {
    const service = YAML.parse(renderCompose(defineStack(database))).services.app;
    assert.deepEqual(service.env_file, [{ path: "/var/lib/codedetect/database.env", required: true }]);
    assert.deepEqual(service.volumes.at(-1), { type: "bind", source: "/var/lib/codedetect/database-ca.pem", target: "/etc/codedetect/database-ca.pem", bind: { create_host_path: false }, read_only: true });
    assert.equal(service.volumes.length, 3);
  });

  it("absent: no env_file key and the two data binds only (SQLite stacks render as before)", () => {
    const model = defineStack(base);
    assert.ok(!("envFile" in model) && !("readOnlyFiles" in model));
    const service = YAML.parse(renderCompose(model)).services.app;
    assert.ok(!("env_file" in service));
    assert.equal(service.volumes.length, 2);
  });

  it("the resolved model keeps them through state.json's strict schema; an unknown field beside them is refused", () => {
    const model = defineStack(database);
    assert.deepEqual(stackModelSchema.parse(JSON.parse(JSON.stringify(model))), model);
    assert.equal(stackModelSchema.safeParse({ ...model, readOnlyFiles: [{ ...model.readOnlyFiles![0], mode: "ro" }] }).success, false);
  });

  it("refuses a relative env file, a file bound over the data directory or twice, and unknown fields", () => {
    refused({ ...base, envFile: "database.env" }, /envFile.*absolute path/);
    refused({ ...base, readOnlyFiles: [{ source: "/ca.pem", target: "/data/database/ca.pem" }] }, /readOnlyFiles\.0\.target.*data directory/);
    refused({ ...base, readOnlyFiles: [{ source: "/a.pem", target: "/etc/ca.pem" }, { source: "/b.pem", target: "/etc//ca.pem" }] }, /readOnlyFiles\.1\.target.*bound twice/);
    refused({ ...base, readOnlyFiles: [{ source: "/a.pem", target: "/etc/ca.pem", writable: true }] }, /readOnlyFiles/);
    refused({ ...base, env_file: "/x" }, /env_file/);
  });
});

const reason = await dockerUnavailable({ engine: false });

describeDocker("docker compose config reads the env file", reason, () => {
  it("its values reach the container's environment verbatim, and cannot override the model's own keys", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "compose-env-file-"));
    try {
      const envFile = path.join(dir, "database.env");
      // a percent-encoded password with the characters an env-file reader could mistake ($ # ' " and spaces are encoded by the agent)
      const url = "postgres://codedetect:p%40ss%3Aw%2Frd%3F%23%25%26%C3%A9-9x%24%27@db.example.com:5432/codedetect?sslmode=verify-full";
      fs.writeFileSync(envFile, `DATABASE_URL=${url}\nDATABASE_CA_FILE=/etc/codedetect/database-ca.pem\nPORT=1\n`, { mode: 0o600 });
      const file = path.join(dir, "compose.yaml");
      fs.writeFileSync(file, renderCompose(defineStack({ ...base, envFile, readOnlyFiles: [{ source: path.join(dir, "ca.pem"), target: "/etc/codedetect/database-ca.pem" }] })));
      const app = YAML.parse(await docker(["compose", "--file", file, "config"])).services.app;
      assert.equal(app.environment.DATABASE_URL, url);
      assert.equal(app.environment.DATABASE_CA_FILE, "/etc/codedetect/database-ca.pem");
      assert.equal(app.environment.PORT, "5000");
      assert.ok(app.volumes.some((v: { target: string; read_only?: boolean }) => v.target === "/etc/codedetect/database-ca.pem" && v.read_only === true));
      fs.rmSync(envFile);
      await assert.rejects(docker(["compose", "--file", file, "config"]), /database\.env/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
}, "Compose v2");

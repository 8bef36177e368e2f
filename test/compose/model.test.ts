// The stack model: image references, defaults, and the validation that makes later steps trust it.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ComposeError } from "../../compose/errors.ts";
import { defineStack, healthDeadlineSeconds, imageRefString, parseImageRef } from "../../compose/model.ts";
import { DIGEST_1, REPO } from "./fixtures.ts";

const configFailure = (field: string) => (error: unknown) => error instanceof ComposeError && error.errorClass === "config" && error.what.startsWith(field);

describe("image references", () => {
  it("splits repository (with a registry port), tag and digest", () => {
    assert.deepEqual(parseImageRef(`127.0.0.1:5000/codedetect:v2@${DIGEST_1}`), { repository: "127.0.0.1:5000/codedetect", tag: "v2", digest: DIGEST_1 });
    assert.equal(imageRefString(parseImageRef(`${REPO}:3.0.0-rc.1@${DIGEST_1}`)), `${REPO}:3.0.0-rc.1@${DIGEST_1}`);
  });

  it("takes a reference pinned by digest alone (what `docker inspect --format '{{index .RepoDigests 0}}'` prints): no tag, the registry's port kept", () => {
    const ref = parseImageRef(`127.0.0.1:5000/codedetect@${DIGEST_1}`);
    assert.deepEqual(ref, { repository: "127.0.0.1:5000/codedetect", tag: null, digest: DIGEST_1 });
    assert.equal(imageRefString(ref), `127.0.0.1:5000/codedetect@${DIGEST_1}`);
    const model = defineStack({ image: `${REPO}@${DIGEST_1}`, efsRoot: "/mnt/efs" });
    assert.equal(imageRefString(model.image), `${REPO}@${DIGEST_1}`);
  });

  it("refuses a reference without a digest, naming the fix", () => {
    assert.throws(() => parseImageRef(`${REPO}:v1`), /has no digest; next: give the image as "repository\[:tag\]@sha256/);
    assert.throws(() => parseImageRef(`127.0.0.1:5000/codedetect`), /has no digest/);
    assert.throws(() => parseImageRef(`${REPO}:v1@sha256:abc`), /is not a sha256 digest/);
    assert.throws(() => parseImageRef(`Registry/CodeDetect:v1@${DIGEST_1}`), /not a valid repository/);
  });
});

describe("defineStack", () => {
  const base = { image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs/" };

  it("fills the defaults: port 5000, drain 30 s, a grace period covering drain and in-flight requests, json-file logs", () => {
    const model = defineStack(base);
    assert.equal(model.project, "codedetect");
    assert.deepEqual(model.port, { bind: "0.0.0.0", host: 5000, container: 5000 });
    assert.deepEqual(model.storage, { efsRoot: "/mnt/efs", database: "/mnt/efs/codedetect/database", uploads: "/mnt/efs/codedetect/uploads" });
    assert.equal(model.drainSeconds, 30);
    assert.ok(model.stopGraceSeconds > model.drainSeconds + 30, `grace ${model.stopGraceSeconds}`);
    assert.deepEqual(model.logging, { driver: "json-file", maxSize: "10m", maxFiles: 3 });
    assert.equal(model.user, "1000:1000");
    assert.ok(healthDeadlineSeconds(model) > model.health.startPeriodSeconds + model.health.retries * model.health.intervalSeconds);
  });

  it("uses awslogs when a log group is configured", () => {
    const model = defineStack({ ...base, logGroup: "/codedetect/app", logRegion: "eu-west-1" });
    assert.deepEqual(model.logging, { driver: "awslogs", group: "/codedetect/app", region: "eu-west-1", stream: null });
  });

  it("refuses a grace period that would cut the drain short", () => {
    assert.throws(() => defineStack({ ...base, drainSeconds: 30, stopGraceSeconds: 30 }), configFailure("stopGraceSeconds"));
    assert.equal(defineStack({ ...base, drainSeconds: 2 }).stopGraceSeconds, 42);
  });

  it("keeps the model's own environment keys out of the extra environment, and sorts the rest", () => {
    assert.throws(() => defineStack({ ...base, environment: { DATA_DIR: "/elsewhere" } }), configFailure("environment.DATA_DIR"));
    assert.throws(() => defineStack({ ...base, environment: { "BAD-KEY": "x" } }), configFailure("environment"));
    assert.deepEqual(Object.keys(defineStack({ ...base, environment: { b: "2", A: "1", a: "3" } }).environment), ["A", "a", "b"]);
  });

  it("refuses relative storage paths and out-of-range numbers", () => {
    assert.throws(() => defineStack({ ...base, efsRoot: "mnt/efs" }), configFailure("efsRoot"));
    assert.throws(() => defineStack({ ...base, hostPort: 70000 }), configFailure("hostPort"));
    assert.throws(() => defineStack({ ...base, health: { retries: 0 } }), configFailure("health.retries"));
  });
});

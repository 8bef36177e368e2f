// compose.yaml from the model: byte-identical for the same model, and every hardening setting the issue asks for.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import YAML from "yaml";
import { defineStack } from "../../compose/model.ts";
import { renderCompose } from "../../compose/render.ts";
import { DIGEST_1, REPO } from "./fixtures.ts";

const input = { image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs", environment: { LOG_LEVEL: "info", INSTANCE_ID: "i-0abc" } };

describe("renderCompose", () => {
  it("renders the same bytes for the same model, whatever the key order of its input", () => {
    const a = renderCompose(defineStack(input));
    const b = renderCompose(defineStack({ efsRoot: "/mnt/efs", environment: { INSTANCE_ID: "i-0abc", LOG_LEVEL: "info" }, image: input.image }));
    assert.equal(a, b);
    assert.match(a, /^# Generated from the stack model/);
  });

  it("pins the image by tag and digest and hardens the container", () => {
    const text = renderCompose(defineStack(input));
    const service = YAML.parse(text).services.app;
    assert.equal(service.image, `${REPO}:v1@${DIGEST_1}`);
    assert.equal(service.pull_policy, "never");
    assert.equal(service.init, true);
    assert.equal(service.restart, "unless-stopped");
    assert.match(text, /user: "1000:1000"/, "quoted, so that no YAML 1.1 reader sees a base-60 number");
    assert.equal(service.read_only, true);
    assert.deepEqual(service.tmpfs, ["/tmp:size=256m,mode=1777"]);
    assert.deepEqual(service.cap_drop, ["ALL"]);
    assert.deepEqual(service.security_opt, ["no-new-privileges:true"]);
    // the port belongs to the port holder; the versions join its network namespace and listen on it with SO_REUSEPORT
    assert.equal(service.ports, undefined);
    assert.equal(service.network_mode, "service:app-port");
    assert.equal(service.environment.REUSE_PORT, "1");
    assert.equal(service.environment.HEALTH_SOCKET, "/tmp/codedetect-health.sock");
    const holder = YAML.parse(text).services["app-port"];
    assert.deepEqual(holder.ports, [{ target: 5000, published: "5000", host_ip: "0.0.0.0", protocol: "tcp" }]);
    assert.deepEqual(holder.entrypoint, ["sleep", "infinity"]);
    assert.deepEqual(holder.sysctls, { "net.ipv4.tcp_migrate_req": "1" });
    assert.equal(holder.read_only, true);
    assert.deepEqual(holder.cap_drop, ["ALL"]);
  });

  it("binds the EFS directories into DATA_DIR, refusing to create them when the mount is missing", () => {
    const service = YAML.parse(renderCompose(defineStack(input))).services.app;
    assert.equal(service.environment.DATA_DIR, "/data");
    assert.deepEqual(service.volumes, [
      { type: "bind", source: "/mnt/efs/codedetect/database", target: "/data/database", bind: { create_host_path: false } },
      { type: "bind", source: "/mnt/efs/codedetect/uploads", target: "/data/uploads", bind: { create_host_path: false } },
    ]);
  });

  it("gives the server its drain period and Docker a longer grace period; health by node, no curl", () => {
    const service = YAML.parse(renderCompose(defineStack({ ...input, drainSeconds: 20 }))).services.app;
    assert.equal(service.environment.DRAIN_SECONDS, "20");
    assert.equal(service.stop_signal, "SIGTERM");
    assert.ok(Number.parseInt(service.stop_grace_period, 10) > 20);
    assert.deepEqual(service.healthcheck.test, ["CMD", "node", "/app/dist/server/healthcheck.js"]);
    assert.equal(service.environment.IMAGE_TAG, "v1");
    assert.equal(service.environment.IMAGE_DIGEST, DIGEST_1);
    assert.equal(service.environment.INSTANCE_ID, "i-0abc");
  });

  it("rotates json-file logs by default and uses awslogs when a group is configured", () => {
    const plain = YAML.parse(renderCompose(defineStack(input))).services.app;
    assert.deepEqual(plain.logging, { driver: "json-file", options: { "max-size": "10m", "max-file": "3" } });
    const aws = YAML.parse(renderCompose(defineStack({ ...input, logGroup: "/codedetect/app", logRegion: "eu-west-1", logStream: "i-0abc" }))).services.app;
    assert.deepEqual(aws.logging, {
      driver: "awslogs",
      options: { "awslogs-group": "/codedetect/app", "awslogs-create-group": "false", "mode": "non-blocking", "max-buffer-size": "4m", "awslogs-region": "eu-west-1", "awslogs-stream": "i-0abc" },
    });
  });
});

describe("memory limits that fit the instance (issue 14)", () => {
  it("sets the container's mem_limit without swap, and an analyzer ceiling that fits its lanes beside the server", () => {
    // a 4 GiB, 2-processor instance: the agent gives the container 4096 - 512 MB
    const model = defineStack({ ...input, memoryLimitMb: 3584, instanceCpus: 2 });
    const service = YAML.parse(renderCompose(model)).services.app;
    assert.equal(service.mem_limit, "3584m");
    assert.equal(service.memswap_limit, "3584m", "no swap beyond the limit: a file that needs more fails instead of thrashing the host");
    assert.equal(service.environment.ANALYZER_MEMORY_MB, "1024", "(3584 - 384) / 2 lanes is 1600: capped at the default 1024");
    assert.equal(service.environment.ANALYZER_RECYCLE_MB, undefined, "the server's default recycle (512) is already below the ceiling");
  });

  it("shares a small instance's memory between its lanes, with the recycle threshold below the ceiling", () => {
    const service = YAML.parse(renderCompose(defineStack({ ...input, memoryLimitMb: 1280, instanceCpus: 2 }))).services.app;
    assert.equal(service.environment.ANALYZER_MEMORY_MB, "448");
    assert.equal(service.environment.ANALYZER_RECYCLE_MB, "224", "recycled by resident memory before the ceiling stops it");
  });

  it("keeps an operator's ceiling that fits and refuses one that does not, or an instance too small for its lanes", () => {
    const kept = YAML.parse(renderCompose(defineStack({ ...input, environment: { ANALYZER_MEMORY_MB: "700" }, memoryLimitMb: 3584, instanceCpus: 2 }))).services.app;
    assert.equal(kept.environment.ANALYZER_MEMORY_MB, "700");
    assert.throws(() => defineStack({ ...input, environment: { ANALYZER_MEMORY_MB: "2048" }, memoryLimitMb: 3584, instanceCpus: 2 }), /ANALYZER_MEMORY_MB: 2048 MB per analyzer does not fit 2 lanes in 3584 MB/);
    // lanes the operator set are theirs: refused when they do not fit
    assert.throws(() => defineStack({ ...input, environment: { ANALYZER_WORKERS: "4" }, memoryLimitMb: 1024, instanceCpus: 4 }), /memoryLimitMb: 1024 MB leaves 160 MB per analyzer lane.*next: raise memoryLimitMb \(at least 1408 for 4 lanes\)/);
    // one lane per processor does not fit: as many lanes as fit, each with its ceiling
    const fewer = YAML.parse(renderCompose(defineStack({ ...input, memoryLimitMb: 1024, instanceCpus: 4 }))).services.app;
    assert.deepEqual([fewer.environment.ANALYZER_WORKERS, fewer.environment.ANALYZER_MEMORY_MB], ["2", "320"]);
    // not even one lane beside the server: refused
    assert.throws(() => defineStack({ ...input, memoryLimitMb: 600, instanceCpus: 2 }), /memoryLimitMb: 600 MB leaves 108 MB per analyzer lane/);
  });

  it("sets no limit when the stack file gives none (as before)", () => {
    const service = YAML.parse(renderCompose(defineStack(input))).services.app;
    assert.equal(service.mem_limit, undefined);
    assert.equal(service.environment.ANALYZER_MEMORY_MB, undefined);
  });
});

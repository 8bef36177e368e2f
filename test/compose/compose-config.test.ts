// The rendered compose.yaml is accepted by the real `docker compose config`, which keeps every setting the model asked for.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import YAML from "yaml";
import { defineStack } from "../../compose/model.ts";
import { renderCompose } from "../../compose/render.ts";
import { BASE_IMAGE, describeDocker, docker, dockerUnavailable, gate } from "./docker-harness.ts";
import { DIGEST_1, REPO } from "./fixtures.ts";

const reason = await dockerUnavailable({ engine: false });

describeDocker("docker compose config accepts the rendered file", reason, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "compose-config-"));

  const check = async (name: string, input: Parameters<typeof defineStack>[0], service = "app") => {
    const file = path.join(dir, `${name}.yaml`);
    fs.writeFileSync(file, renderCompose(defineStack(input)));
    return YAML.parse(await docker(["compose", "--file", file, "config"])).services[service];
  };

  it("with json-file logs: image by digest, init, hardening, volumes, health check and grace period survive", async () => {
    const app = await check("plain", { image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs", drainSeconds: 30, environment: { LOG_LEVEL: "info" } });
    assert.equal(app.image, `${REPO}:v1@${DIGEST_1}`);
    assert.equal(app.init, true);
    assert.equal(app.user, "1000:1000");
    assert.equal(app.read_only, true);
    assert.deepEqual(app.cap_drop, ["ALL"]);
    assert.deepEqual(app.security_opt, ["no-new-privileges:true"]);
    assert.deepEqual(app.tmpfs, ["/tmp:size=256m,mode=1777"]);
    assert.equal(app.stop_grace_period, "1m10s");
    assert.equal(app.healthcheck.start_period, "30s");
    assert.deepEqual(app.volumes.map((v: { source: string; target: string }) => `${v.source}:${v.target}`), ["/mnt/efs/codedetect/database:/data/database", "/mnt/efs/codedetect/uploads:/data/uploads"]);
    assert.equal(app.logging.driver, "json-file");
    assert.equal(app.environment.DRAIN_SECONDS, "30");
  });

  it("with awslogs: non-blocking with a 4 MB buffer, so a throttled CloudWatch Logs never stalls the server's stdout", async () => {
    const app = await check("aws", { image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs", logGroup: "/codedetect/app", logRegion: "eu-west-1" });
    assert.deepEqual(app.logging, { driver: "awslogs", options: { "awslogs-create-group": "false", "awslogs-group": "/codedetect/app", "awslogs-region": "eu-west-1", mode: "non-blocking", "max-buffer-size": "4m" } });
    awslogsOptions = app.logging.options;
  });

  it("the rendered service stays on Compose's bridge network: never network_mode host, where IMDS hop limit 1 would not keep the container from the instance role", async () => {
    const app = await check("network", { image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs", logGroup: "/codedetect/app" });
    // the app joins its port holder's namespace (the in-place update, compose/README.md), which is on the bridge network
    assert.equal(app.network_mode, "service:app-port");
    const holder = await check("network", { image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs", logGroup: "/codedetect/app" }, "app-port");
    assert.equal(holder.network_mode, undefined);
    assert.deepEqual(Object.keys(holder.networks ?? {}), ["default"]);
  });
}, "Compose v2");

let awslogsOptions: Record<string, string> | null = null;
const engine = gate(await dockerUnavailable({ baseImage: true }));

// `docker compose config` does not check log options; the engine does, when a container is created (dockerd
// validates mode and max-buffer-size itself, then the driver's own options).
describe("the engine accepts the awslogs delivery options", { skip: engine.skip }, () => {
  it("creates a container with them, and refuses a mode it does not know", async () => {
    if (engine.mustFail) assert.fail(String(await dockerUnavailable({ baseImage: true })));
    assert.ok(awslogsOptions, "the awslogs case above ran first");
    const name = `codedetect-logopts-${process.pid}`;
    const create = (options: Record<string, string>) => docker(["create", "--name", name, "--log-driver", "awslogs", ...Object.entries(options).flatMap(([key, value]) => ["--log-opt", `${key}=${value}`]), BASE_IMAGE, "true"]);
    try {
      await create(awslogsOptions);
      const config = JSON.parse(await docker(["inspect", "--format", "{{json .HostConfig.LogConfig}}", name]));
      assert.deepEqual(config, { Type: "awslogs", Config: awslogsOptions });
    } finally {
      await docker(["rm", "--force", name]).catch(() => undefined);
    }
    try {
      await assert.rejects(create({ ...awslogsOptions, mode: "sometimes" }), /logging mode not supported: sometimes/);
    } finally {
      await docker(["rm", "--force", name]).catch(() => undefined);
    }
  });
});

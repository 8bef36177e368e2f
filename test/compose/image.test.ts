// The application image as built from the Dockerfile: non-root, an init as PID 1, health probe, labels, trixie's analyzers, the pinned Compose plugin.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { before, it } from "node:test";
import { runCommand } from "../../compose/executor.ts";
import { findCompose, IMAGE_PLUGIN_PATH } from "../../compose/locate.ts";
import { MALLOC_ENV } from "../../server/allocator.ts";
import { buildAppImage, describeDocker, docker, dockerUnavailable } from "./docker-harness.ts";

const reason = await dockerUnavailable({ baseImage: true });
const IMAGE = "codedetect-test-build:v1";

describeDocker("the application image", reason, () => {
  const run = (...args: string[]) => docker(["run", "--rm", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL", IMAGE, ...args]);
  let config: { User: string; Labels: Record<string, string>; Healthcheck: { Test: string[] }; Entrypoint: string[]; Env: string[] };

  before(async () => {
    await buildAppImage(IMAGE, "1.0.0-test");
    config = (JSON.parse(await docker(["image", "inspect", IMAGE])) as { Config: typeof config }[])[0]!.Config;
  });

  it("runs as the non-root node user (uid 1000) on a read-only root", async () => {
    assert.equal(config.User, "node");
    assert.equal(await run("id", "-u"), "1000");
  });

  it("has tini as PID 1, forwarding signals", async () => {
    assert.deepEqual(config.Entrypoint, ["/usr/bin/tini", "-s", "--"]);
    assert.match(await run("cat", "/proc/1/cmdline"), /^\/usr\/bin\/tini/);
  });

  it("probes health with node alone, and carries version and revision labels", () => {
    assert.deepEqual(config.Healthcheck.Test, ["CMD", "node", "/app/dist/server/healthcheck.js"]);
    assert.equal(config.Labels["org.opencontainers.image.version"], "1.0.0-test");
    assert.equal(config.Labels["org.opencontainers.image.revision"], "test-revision");
    assert.ok(config.Env.includes("PYTHONDONTWRITEBYTECODE=1") && config.Env.includes("HOME=/tmp"));
  });

  it("starts the server with glibc's mmap threshold as server/allocator.ts sets it, so that memory a burst took goes back", async () => {
    assert.ok(config.Env.includes(`MALLOC_MMAP_THRESHOLD_=${MALLOC_ENV.MALLOC_MMAP_THRESHOLD_}`), config.Env.join(" "));
    const threshold = await run("node", "-e", "import('/app/dist/server/allocator.js').then((m) => console.log(m.mmapThreshold()))");
    assert.equal(threshold, MALLOC_ENV.MALLOC_MMAP_THRESHOLD_);
  });

  it("ships the built server and production dependencies only, with trixie's analyzers", async () => {
    const listing = await run("sh", "-c", "ls /app; ls /app/dist/server/analyzers/worker.py /app/dist/server/web/index.html; test ! -e /app/node_modules/typescript && echo no-dev-deps");
    assert.match(listing, /dist\nnode_modules\npackage.json/);
    assert.match(listing, /no-dev-deps/);
    assert.doesNotMatch(listing, /^server$/m);
    const versions = await run("sh", "-c", "pylint --version | head -1; bandit --version | head -1; radon --version");
    assert.match(versions, /pylint 3\./);
    assert.match(versions, /bandit 1\.7/);
    assert.match(versions, /^6\./m);
  });

  it("carries a pinned Compose v2 plugin that runs standalone and fits Amazon Linux 2023's glibc 2.34", async () => {
    assert.match(await run("cat", `${IMAGE_PLUGIN_PATH}.version`), /^docker-compose 2\.\d+\.\d+\S* from Debian trixie package docker-compose=\S+\nsha256 [a-f0-9]{64}$/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "plugin-"));
    const container = await docker(["create", IMAGE]);
    try {
      await docker(["cp", `${container}:${IMAGE_PLUGIN_PATH}`, dir]);
    } finally {
      await docker(["rm", container]);
    }
    const binary = path.join(dir, "docker-compose");
    const needed = [...fs.readFileSync(binary).toString("latin1").matchAll(/GLIBC_2\.(\d+)/g)].map((m) => Number(m[1]));
    assert.ok(Math.max(...needed) <= 34, `needs GLIBC_2.${Math.max(...needed)}`);
    const found = await findCompose(runCommand, [[binary]]);
    assert.match(found.version, /^2\./);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

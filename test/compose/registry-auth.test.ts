// Pulling from a registry that requires credentials: the runner's private DOCKER_CONFIG works, and a refusal is not retried.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, it } from "node:test";
import { execa } from "execa";
import { ComposeError } from "../../compose/errors.ts";
import { defineStack } from "../../compose/model.ts";
import { dockerConfigContent } from "../../compose/plan.ts";
import { createRunner } from "../../compose/runner.ts";
import { describeDocker, docker, dockerUnavailable, startRegistry } from "./docker-harness.ts";

/** htpasswd wants bcrypt; the host's Python (libxcrypt) makes one without extra packages. */
async function bcrypt(password: string): Promise<string | null> {
  const code = "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))";
  const result = await execa("python3", ["-W", "ignore", "-c", code, password], { reject: false });
  return result.exitCode === 0 && String(result.stdout).startsWith("$2") ? String(result.stdout).trim() : null;
}

const hash = await bcrypt("s3cret-token");
const reason = (await dockerUnavailable()) ?? (hash ? null : "python3 with crypt (bcrypt) is needed to write the registry's htpasswd");

describeDocker("pulling with registry credentials", reason, () => {
  const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), "compose-auth-"));
  let registry: Awaited<ReturnType<typeof startRegistry>>;
  let image = "";

  before(async () => {
    registry = await startRegistry({ htpasswd: `deployer:${hash}` });
    const auth = { registry: registry.address, username: "deployer", password: "s3cret-token" };
    // A one-file image is enough to prove the credentials (the app image would take a minute to push to an empty registry).
    const tag = `${registry.address}/tiny:v1`;
    fs.writeFileSync(path.join(stateDir, "marker"), "tiny\n");
    await execa("tar", ["-C", stateDir, "-cf", path.join(stateDir, "tiny.tar"), "marker"]);
    await docker(["import", path.join(stateDir, "tiny.tar"), tag]);
    const config = fs.mkdtempSync(path.join(os.tmpdir(), "docker-config-"));
    fs.writeFileSync(path.join(config, "config.json"), dockerConfigContent(auth));
    const pushed = await execa("docker", ["push", tag], { env: { DOCKER_CONFIG: config } });
    image = `${tag}@${/digest: (sha256:[a-f0-9]{64})/.exec(String(pushed.stdout))?.[1]}`;
    await docker(["rmi", tag]);
    fs.rmSync(config, { recursive: true, force: true });
  });

  after(async () => {
    await registry?.stop();
    await docker(["rmi", image]).catch(() => undefined);
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it("refuses at once without credentials, saying so", async () => {
    const runner = createRunner({ stateDir, pullRetry: { attempts: 4, minDelayMs: 500, maxDelayMs: 500, deadlineMs: 10_000 } });
    const error = await runner.pull(defineStack({ image, efsRoot: "/nonexistent" })).then(() => assert.fail("must not pull"), (e: unknown) => e);
    assert.ok(error instanceof ComposeError);
    assert.match(error.message, /failed \(1 attempt over [\d.]+ s\): .*no basic auth credentials; next: check that .* was pushed .* and whether the registry needs credentials; the running stack was not changed$/);
  });

  it("pulls with them, from a private DOCKER_CONFIG readable by root only", async () => {
    const runner = createRunner({ stateDir, auth: { registry: registry.address, username: "deployer", password: "s3cret-token" } });
    await runner.pull(defineStack({ image, efsRoot: "/nonexistent" }));
    await docker(["image", "inspect", image.replace(/:v1@/, "@")]);
    assert.equal(fs.statSync(path.join(stateDir, "docker/config.json")).mode & 0o777, 0o600);
  });

  it("a pull that fails with new credentials keeps the ones that worked", async () => {
    const kept = path.join(stateDir, "docker/config.json");
    const good = fs.readFileSync(kept, "utf8");
    await docker(["rmi", image.replace(/:v1@/, "@")]);
    const runner = createRunner({ stateDir, auth: { registry: registry.address, username: "deployer", password: "wrong" }, pullRetry: { attempts: 3, minDelayMs: 100, maxDelayMs: 100, deadlineMs: 5000 } });
    const error = await runner.pull(defineStack({ image, efsRoot: "/nonexistent" })).then(() => assert.fail("must not pull"), (e: unknown) => e);
    assert.ok(error instanceof ComposeError);
    assert.match(error.message, /\(1 attempt over [\d.]+ s\): .*(unauthorized|denied)/);
    assert.equal(fs.readFileSync(kept, "utf8"), good);
    assert.equal(good, dockerConfigContent({ registry: registry.address, username: "deployer", password: "s3cret-token" }));
  });
});

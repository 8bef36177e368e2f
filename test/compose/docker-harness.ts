// Real-Docker helpers for the compose suites: the engine gate (skip here, fail under CI), image builds, pushes, a registry of our own.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { execa } from "execa";

export const REPO_ROOT = path.resolve(import.meta.dirname, "../..");
export const BASE_IMAGE = "node:24-trixie-slim";
/** The tests' registry: scripts/setup.sh starts it here (never on the app's port 5000, so `npm start` works after `npm test`). */
export const REGISTRY = process.env.TEST_REGISTRY ?? "127.0.0.1:5050";

async function ok(file: string, args: string[]): Promise<string | null> {
  const result = await execa(file, args, { reject: false, timeout: 20_000 });
  return result.exitCode === 0 ? null : (String(result.stderr || result.stdout).trim().split("\n").at(-1) ?? `exit ${result.exitCode}`) || (result.code ?? "failed");
}

/**
 * Why the Docker suites cannot run here, or null when they can. Needs an engine, Compose v2, the base image and,
 * with `registry`, the local registry. Under CI (CI=true) the caller turns a reason into a failure, not a skip.
 */
export async function dockerUnavailable(needs: { engine?: boolean; baseImage?: boolean; registry?: boolean } = {}): Promise<string | null> {
  const compose = await ok("docker", ["compose", "version", "--short"]);
  if (compose) return `Compose v2 not available (docker compose version: ${compose}); run ../shared/tools/provision-docker.sh`;
  if (needs.engine !== false) {
    const engine = await ok("docker", ["info", "--format", "{{.ServerVersion}}"]);
    if (engine) return `no Docker Engine reachable (${engine}); run ../shared/tools/provision-docker.sh`;
  }
  if (needs.baseImage) {
    const base = await ok("docker", ["image", "inspect", BASE_IMAGE]);
    if (base) return `base image ${BASE_IMAGE} missing; run ../shared/tools/build-base-image.sh`;
  }
  if (needs.registry) {
    const reachable = await fetch(`http://${REGISTRY}/v2/`).then((r) => r.ok, () => false);
    if (!reachable) return `no registry at ${REGISTRY}; run ../shared/tools/provision-docker.sh`;
  }
  return null;
}

/** In CI a missing engine is a failure; elsewhere a skip with the reason. */
export function gate(reason: string | null): { skip: string | false; mustFail: boolean } {
  if (reason === null) return { skip: false, mustFail: false };
  if (process.env.CI === "true") return { skip: false, mustFail: true };
  return { skip: `Docker suite skipped: ${reason}`, mustFail: false };
}

/**
 * A suite that needs Docker: skipped with the reason on a machine without it; under CI one failing test that says what
 * is missing, instead of the suite.
 */
export function describeDocker(title: string, reason: string | null, body: () => void, needs = "Docker"): void {
  const { skip, mustFail } = gate(reason);
  describe(title, { skip }, () => {
    if (mustFail) {
      it(`needs ${needs} under CI`, () => assert.fail(String(reason)));
      return;
    }
    body();
  });
}

export async function docker(args: string[], options: { input?: string; timeoutMs?: number; cwd?: string } = {}): Promise<string> {
  const result = await execa("docker", args, { input: options.input, timeout: options.timeoutMs ?? 120_000, cwd: options.cwd, reject: false });
  if (result.exitCode !== 0) throw new Error(`docker ${args.join(" ")} failed (${result.exitCode}): ${String(result.stderr).trim().split("\n").slice(-5).join(" | ")}`);
  return String(result.stdout).trim();
}

/** Builds the repository's Dockerfile once per tag (Docker's layer cache makes a rebuild of unchanged sources quick). */
export async function buildAppImage(tag: string, version: string): Promise<{ seconds: number }> {
  const started = Date.now();
  await docker(["build", "--network", "host", "--quiet", "--build-arg", `VERSION=${version}`, "--build-arg", "REVISION=test-revision", "-t", tag, "."], { cwd: REPO_ROOT, timeoutMs: 900_000 });
  return { seconds: (Date.now() - started) / 1000 };
}

/**
 * The real application in three versions, pushed to `repository` (tags v1, v2, bad): v2 differs by its version label
 * only (it reuses every layer), bad is v2 with a health probe that always says no. One build per run is shared by
 * every suite that asks (Docker's layer cache).
 */
export async function appVersions(repository: string): Promise<{ refs: { v1: string; v2: string; bad: string }; buildSeconds: number }> {
  const build = await buildAppImage("codedetect-test-build:v1", "1.0.0-test");
  await buildAppImage("codedetect-test-build:v2", "2.0.0-test");
  await buildFromText(
    "codedetect-test-build:bad",
    `FROM codedetect-test-build:v2\nUSER root\nRUN echo 'console.error("deliberately unhealthy"); process.exit(1);' > /app/dist/server/healthcheck.js\nUSER node\n`,
  );
  const refs = {
    v1: await push("codedetect-test-build:v1", `${repository}:v1`),
    v2: await push("codedetect-test-build:v2", `${repository}:v2`),
    bad: await push("codedetect-test-build:bad", `${repository}:bad`),
  };
  return { refs, buildSeconds: build.seconds };
}

/** Builds a derived image from a Dockerfile given as text (no context). */
export async function buildFromText(tag: string, dockerfile: string): Promise<void> {
  await docker(["build", "--quiet", "-t", tag, "-"], { input: dockerfile, timeoutMs: 300_000 });
}

/** Tags, pushes, and returns "repository:tag@sha256:…"; with `forget`, drops the local name so that a deploy must pull. */
export async function push(localTag: string, remote: string, forget = true): Promise<string> {
  await docker(["tag", localTag, remote]);
  const output = await docker(["push", remote], { timeoutMs: 300_000 });
  const digest = /digest: (sha256:[a-f0-9]{64})/.exec(output)?.[1];
  if (!digest) throw new Error(`no digest in docker push output: ${output}`);
  if (forget) await docker(["rmi", remote]);
  return `${remote}@${digest}`;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined>, deadlineMs = 30_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe().catch(() => null);
    if (value !== null && value !== undefined) return value;
    if (Date.now() - started > deadlineMs) throw new Error(`${what}: not within ${deadlineMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A registry of the test's own (so that stopping it disturbs no one), on a free loopback port. */
export async function startRegistry(options: { htpasswd?: string } = {}): Promise<{ address: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "registry-"));
  const config = path.join(dir, "config.yml");
  let auth = "";
  if (options.htpasswd) {
    fs.writeFileSync(path.join(dir, "htpasswd"), `${options.htpasswd}\n`);
    auth = `auth:\n  htpasswd:\n    realm: test\n    path: ${dir}/htpasswd\n`;
  }
  fs.writeFileSync(config, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n${auth}http:\n  addr: 127.0.0.1:${port}\n`);
  const child: ChildProcess = spawn("docker-registry", ["serve", config], { stdio: "ignore" });
  const address = `127.0.0.1:${port}`;
  await waitFor("registry", () => fetch(`http://${address}/v2/`).then((r) => (r.ok || r.status === 401 ? true : null)), 15_000);
  return {
    address,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A host directory standing in for the EFS mount, laid out as the bootstrap layout step will: owned by uid 1000. */
export function efsStandIn(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "efs-"));
  for (const dir of ["codedetect", "codedetect/database", "codedetect/uploads"]) {
    fs.mkdirSync(path.join(root, dir), { recursive: true });
    fs.chownSync(path.join(root, dir), 1000, 1000);
  }
  return root;
}

// End to end on the real Docker Engine: `bootstrap --local` from nothing to healthy with a migration of an old database and uploads,
// a second run that finds nothing to do, `status --json`, supervise finishing an update a killed deploy left half-done,
// restarting a killed container and draining on SIGTERM.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { openSqliteStore } from "../../server/store/sqlite.ts";
import { pinImage } from "../../bootstrap/adapters/pin.ts";
import { buildFromText, docker, dockerUnavailable, freePort, gate, waitFor } from "../compose/docker-harness.ts";
import { CLI, journal, REPO_ROOT, runAgent, tempDir } from "./helpers.ts";

const ROWS = 250;
const UPLOADS = 40;
const { skip, mustFail } = gate(await dockerUnavailable({ baseImage: true }));

/** The old single-instance layout with the server's own schema: ROWS analyses and UPLOADS files. */
async function oldLayout(dir: string): Promise<void> {
  const file = path.join(dir, "database", "codedetect.db");
  (await openSqliteStore({ file, busyDeadlineMs: 5000 })).close();
  const db = new Database(file);
  const insert = db.prepare("INSERT INTO analysis (file_hash, timestamp, score, total_issues, security_issues, complexity_issues) VALUES (?, ?, ?, ?, ?, ?)");
  db.transaction(() => {
    for (let i = 0; i < ROWS; i++) insert.run(i.toString(16).padStart(64, "0"), new Date(Date.UTC(2025, 0, 1) + i * 1000).toISOString(), i % 101, i % 9, i % 4, i % 3);
  })();
  db.close();
  fs.mkdirSync(path.join(dir, "uploads"), { recursive: true });
  for (let i = 0; i < UPLOADS; i++) fs.writeFileSync(path.join(dir, "uploads", `20250101_120000_${i}.py`), `print(${i})\n`.repeat(i + 1));
}

describe("npm start without a Docker Engine", () => {
  it("says so, and how to run the server alone; exit 1", async () => {
    const bin = tempDir("cdagent-nodocker");
    fs.symlinkSync(process.execPath, path.join(bin, "node"));
    const result = await runAgent([], { PATH: bin }, { script: path.join(REPO_ROOT, "bootstrap", "start.ts") });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^npm start runs CodeDetect as its real stack on Docker: no Docker Engine reachable \(.*\)\. Install Docker Engine .* or run the server alone: npm run server\n$/);
    fs.rmSync(bin, { recursive: true, force: true });
  });
});

describe("the local stack on the real Docker Engine", { skip }, () => {
  const root = tempDir("cdagent-e2e");
  const project = `cdagent-e2e-${process.pid}`;
  let port = 0;
  let args: string[] = [];
  const env = { CODEDETECT_PROJECT: project, COMPOSE_LOCK_DIR: path.join(root, "lock"), CODEDETECT_SUPERVISE_INTERVAL_SECONDS: "1" };
  const url = () => `http://127.0.0.1:${port}`;
  const containers = async () => (await docker(["ps", "--all", "--quiet", "--filter", `label=com.docker.compose.project=${project}`])).split("\n").filter(Boolean);
  /** The app's containers only (the port holder beside them stays across updates and restarts). */
  const appContainers = async () => (await docker(["ps", "--all", "--quiet", "--filter", `label=com.docker.compose.project=${project}`, "--filter", "label=com.docker.compose.service=app"])).split("\n").filter(Boolean);

  before(async () => {
    if (mustFail) throw new Error("Docker is required under CI");
    port = await freePort();
    await oldLayout(path.join(root, "old"));
    args = ["--local", "--state-dir", path.join(root, "state"), "--shared-dir", path.join(root, "shared"), "--migrate-from", path.join(root, "old"), "--port", String(port)];
  });
  after(async () => {
    await docker(["compose", "--project-name", project, "down", "--remove-orphans"]).catch(() => undefined);
    const recorded = fs.existsSync(path.join(root, "state", "local-image.json")) ? JSON.parse(fs.readFileSync(path.join(root, "state", "local-image.json"), "utf8")).image : null;
    // The pin is only a name: the image itself stays for the next run (Docker's cache), the loopback tag goes.
    if (recorded) await docker(["rmi", recorded.replace(/@.*/, "")]).catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("from nothing: migrates the old data, builds and pins the image, brings the stack up healthy and prints the URL", async () => {
    const result = await runAgent(args, env, { full: true });
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.match(result.stdout, new RegExp(`^CodeDetect is up at ${url().replaceAll(".", "\\.")}$`, "m"));
    const steps = journal(path.join(root, "state")).steps;
    assert.deepEqual(Object.fromEntries(Object.entries(steps).map(([name, entry]) => [name, entry.outcome])), {
      identify: "done", mount: "done", layout: "done", migrate: "done", database: "unchanged", image: "done", start: "done", launch: "unchanged", verify: "unchanged", signal: "unchanged",
    });
    const stats = (await (await fetch(`${url()}/api/stats`)).json()) as { total_analyses: number };
    assert.equal(stats.total_analyses, ROWS, "the server on the shared tree serves every migrated row");
    const uploads = fs.readdirSync(path.join(root, "shared", "codedetect", "uploads")).filter((name) => name.endsWith(".py"));
    assert.equal(uploads.length, UPLOADS);
    for (const name of uploads) assert.deepEqual(fs.readFileSync(path.join(root, "shared", "codedetect", "uploads", name)), fs.readFileSync(path.join(root, "old", "uploads", name)));
    const info = (await (await fetch(`${url()}/api/info`)).json()) as { deployment: { instance_id: string; image_digest: string } };
    const identity = JSON.parse(fs.readFileSync(path.join(root, "state", "identity.json"), "utf8"));
    assert.equal(info.deployment.instance_id, identity.instanceId, "/api/info names this instance");
    assert.match(info.deployment.image_digest, /^sha256:[a-f0-9]{64}$/);
  });

  it("a second run finds nothing to do", async () => {
    const result = await runAgent(args, env, { full: true });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^nothing to do \(/m);
    assert.equal(Object.values(journal(path.join(root, "state")).steps).every((entry) => entry.outcome === "unchanged"), true);
  });

  it("status --json: each step's outcome, the running image digest, health and the migration marker", async () => {
    const result = await runAgent(["status", "--json", ...args], env);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout);
    assert.equal(report.steps.start.outcome, "unchanged");
    assert.equal(report.migration.files, UPLOADS);
    assert.equal(report.migration.database, "database/codedetect.db");
    assert.equal(report.stack.project, project);
    assert.equal(report.stack.container.state, "running");
    assert.equal(report.stack.container.health, "healthy");
    const info = (await (await fetch(`${url()}/api/info`)).json()) as { deployment: { image_digest: string } };
    assert.equal(report.stack.container.digest, info.deployment.image_digest, "the digest status shows is the one the server runs");
    assert.equal(report.stack.recorded, report.stack.container.image);
    assert.deepEqual(report.stack.health, { healthy: true, detail: "200 healthy" });
  });

  it("the on-call engineer's re-run after the server was killed (-9) and Docker restarted it: waits for it to turn healthy, exit 0", async () => {
    const [id] = await appContainers();
    const pid = (await docker(["inspect", "--format", "{{.State.Pid}}", id!])).trim();
    process.kill(Number(pid), "SIGKILL");
    const restarted = await waitFor("Docker's restart after the kill", async () => {
      const [state, restarts] = (await docker(["inspect", "--format", "{{.State.Status}} {{.RestartCount}}", id!])).trim().split(" ");
      return state === "running" && Number(restarts) > 0 ? restarts : null;
    });
    assert.ok(Number(restarted) > 0);
    const result = await runAgent(args, env, { full: true });
    assert.equal(result.code, 0, `a restart Docker made before this run is not this run's crash loop:\n${result.stderr}`);
    assert.equal((await fetch(`${url()}/api/health`)).status, 200);
  });

  it("a new image that never turns healthy: rolled back to the running one, the start step fails (exit 1), the old one still serves", async () => {
    const good = JSON.parse(fs.readFileSync(path.join(root, "state", "local-image.json"), "utf8")).image as string;
    const badTag = `cdagent-bad:${process.pid}`;
    await buildFromText(badTag, `FROM ${good}\nCMD ["node", "-e", "process.exit(3)"]\n`);
    const bad = await pinImage(badTag, "cdagent-bad");
    try {
      const result = await runAgent([...args, "--image", bad], env, { full: true });
      assert.equal(result.code, 1, result.stdout);
      assert.match(result.stderr, /^bootstrap: step start: up .*: it did not turn healthy: the container (exited with code 3|keeps exiting \(code 3).*; it was stopped alone: .* served throughout and still does; next: /);
      assert.equal(journal(path.join(root, "state")).steps.start!.outcome, "failed");
      const info = (await (await fetch(`${url()}/api/info`)).json()) as { deployment: { image_digest: string } };
      assert.equal(info.deployment.image_digest, good.slice(good.indexOf("@") + 1), "the good image serves again");
      const again = await runAgent(args, env, { full: true });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /^nothing to do \(/m, "back on the local image, nothing to do");
    } finally {
      await docker(["rmi", bad.replace(/@.*/, ""), badTag]).catch(() => undefined);
    }
  });

  it("two instances side by side: each state directory its own project on its own port, one shared directory", async () => {
    const image = JSON.parse(fs.readFileSync(path.join(root, "state", "local-image.json"), "utf8")).image as string;
    const instances = await Promise.all(
      ["a", "b"].map(async (name) => ({ name, project: `${project}-${name}`, port: await freePort(), stateDir: path.join(root, `side-${name}`) })),
    );
    try {
      const results = await Promise.all(
        instances.map((i) => runAgent(["--local", "--state-dir", i.stateDir, "--shared-dir", path.join(root, "shared"), "--port", String(i.port), "--image", image], { ...env, CODEDETECT_PROJECT: i.project }, { full: true })),
      );
      for (const result of results) assert.equal(result.code, 0, result.stderr);
      const infos = await Promise.all(instances.map(async (i) => (await (await fetch(`http://127.0.0.1:${i.port}/api/info`)).json()) as { deployment: { instance_id: string } }));
      assert.notEqual(infos[0]!.deployment.instance_id, infos[1]!.deployment.instance_id, "two instances");
      for (const i of instances) {
        const stats = (await (await fetch(`http://127.0.0.1:${i.port}/api/stats`)).json()) as { total_analyses: number };
        assert.equal(stats.total_analyses, ROWS, `${i.name} serves the one shared database`);
        // its app and its port holder (compose/README.md "In-place update"), no other instance's
        const own = (await docker(["ps", "--format", '{{.Label "com.docker.compose.service"}}', "--filter", `label=com.docker.compose.project=${i.project}`])).split("\n").filter(Boolean).sort();
        assert.deepEqual(own, ["app", "app-port"], `${i.project} is its own Compose project`);
      }
    } finally {
      for (const i of instances) await docker(["compose", "--project-name", i.project, "down"]).catch(() => undefined);
    }
  });

  it("supervise finishes an update a killed bootstrap left half-done: one container of the new version serves, recorded", async () => {
    const good = JSON.parse(fs.readFileSync(path.join(root, "state", "local-image.json"), "utf8")).image as string;
    const nextTag = `cdagent-next:${process.pid}`;
    await buildFromText(nextTag, `FROM ${good}\nLABEL codedetect.test.version="next"\n`);
    const next = await pinImage(nextTag, "cdagent-next");
    const nextId = (await docker(["image", "inspect", "--format", "{{.Id}}", next])).trim();
    // the deploy is killed (-9) once its new container runs beside the old one: both serve, state.json records it pending
    const deploy = spawn(process.execPath, [CLI, ...args, "--image", next], { env: { ...process.env, ...env }, stdio: "ignore" });
    await waitFor("the new version's container beside the old one", async () => ((await appContainers()).length === 2 ? true : null), 120_000);
    deploy.kill("SIGKILL");
    await new Promise((resolve) => deploy.once("close", resolve));
    const recorded = () => JSON.parse(fs.readFileSync(path.join(root, "state", "state.json"), "utf8")) as { current: { image: unknown }; pending: { image: unknown } | null };
    assert.notEqual(recorded().pending, null, "the killed deploy left its update pending");
    const child = spawn(process.execPath, [CLI, "supervise", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    try {
      const finished = async () => {
        const ids = await docker(["ps", "--quiet", "--filter", `label=com.docker.compose.project=${project}`, "--filter", "label=com.docker.compose.service=app"]);
        const images = ids ? (await docker(["inspect", "--format", "{{.Image}}", ...ids.split("\n")])).split("\n") : [];
        return images.length === 1 && images[0] === nextId && recorded().pending === null ? true : null;
      };
      await waitFor("one container of the new version, recorded", finished, 180_000).catch((error: Error) => {
        throw new Error(`${error.message}; supervise said:\n${output}`);
      });
      assert.match(output, /supervise: an update to .*cdagent-next.* was left half-done \(state\.json records it pending; no deploy holds the host lock\): finishing it/);
      assert.equal((await fetch(`${url()}/api/health`)).status, 200);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("supervise restarts a killed container, and on SIGTERM stops the stack and exits 0", async () => {
    const child = spawn(process.execPath, [CLI, "supervise", ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    const until = async (pattern: RegExp) => {
      while (!pattern.test(output)) {
        if (child.exitCode !== null) throw new Error(`supervise exited early:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    try {
      await until(/supervise: watching/);
      const [before] = await appContainers();
      await docker(["kill", before!]);
      await until(/supervise: healthy again/);
      assert.match(output, /restarting the stack \(restart 1\)/);
      const [now] = await appContainers();
      assert.equal(await docker(["inspect", "--format", "{{.State.Status}} {{.State.Health.Status}}", now!]), "running healthy");
      assert.equal((await fetch(`${url()}/api/health`)).status, 200);
      child.kill("SIGTERM");
      assert.equal(await exited, 0, output);
      assert.match(output, /SIGTERM received: stopping the stack/);
      assert.deepEqual(await containers(), [], "the stack is stopped and removed");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  it("npm start (bootstrap --local, then supervise): up and healthy, and Ctrl-C (SIGINT) stops the stack and exits 0", async () => {
    const startPort = await freePort();
    const startProject = `${project}-start`;
    const startArgs = ["--state-dir", path.join(root, "start-state"), "--shared-dir", path.join(root, "shared"), "--port", String(startPort)];
    const child = spawn(process.execPath, [path.join(REPO_ROOT, "bootstrap", "start.ts"), ...startArgs], { env: { ...process.env, ...env, CODEDETECT_PROJECT: startProject }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
    try {
      while (!/supervise: watching/.test(output)) {
        if (child.exitCode !== null) throw new Error(`npm start exited early:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.match(output, new RegExp(`CodeDetect is up at http://127\\.0\\.0\\.1:${startPort}`));
      assert.equal((await fetch(`http://127.0.0.1:${startPort}/api/health`)).status, 200);
      child.kill("SIGINT");
      assert.equal(await exited, 0, output);
      const left = (await docker(["ps", "--all", "--quiet", "--filter", `label=com.docker.compose.project=${startProject}`])).split("\n").filter(Boolean);
      assert.deepEqual(left, [], "Ctrl-C stopped the stack");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await docker(["compose", "--project-name", startProject, "down"]).catch(() => undefined);
    }
  });
});

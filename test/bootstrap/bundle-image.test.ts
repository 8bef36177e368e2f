// The agent as the launcher gets it: /opt/codedetect/agent.mjs copied out of the built application image with `docker cp`,
// run by this host's Node.js from a directory without node_modules — usage, real steps, status and supervise's refusal.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { buildAppImage, docker, dockerUnavailable, freePort, gate } from "../compose/docker-harness.ts";
import { runAgent, tempDir } from "./helpers.ts";

const { skip, mustFail } = gate(await dockerUnavailable({ baseImage: true }));
const TAG = "cdagent-bundle:test";

describe("the agent bundle from the built image", { skip }, () => {
  const root = tempDir("cdagent-bundle");
  const agent = path.join(root, "agent.mjs");
  // No node_modules anywhere above the bundle, and NODE_PATH empty: nothing but the file and Node's own modules.
  const run = (args: string[]) => runAgent(args, { NODE_PATH: "" }, { script: agent, cwd: root });

  before(async () => {
    if (mustFail) throw new Error("Docker is required under CI");
    await buildAppImage(TAG, "bundle-test");
    const container = await docker(["create", TAG]);
    try {
      await docker(["cp", `${container}:/opt/codedetect/agent.mjs`, agent]);
    } finally {
      await docker(["rm", container]);
    }
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it("is one file with no native module and no import of node_modules", () => {
    const text = fs.readFileSync(agent, "utf8");
    assert.doesNotMatch(text, /\.node["']/, "no native addon is loaded");
    assert.doesNotMatch(text, /from ?["'](?!node:)[a-z@][^"']*["']/, "every import left in the bundle is one of Node's own (node:…)");
  });

  it("the AWS SDK is only in the bundle: the image's node_modules (what the server runs with) has none of it", async () => {
    assert.equal(await docker(["run", "--rm", "--entrypoint", "sh", TAG, "-c", "test ! -e /app/node_modules/@aws-sdk && echo none"]), "none");
  });

  it("--help prints the usage and exits 0", async () => {
    const result = await run(["--help"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^usage: npm run bootstrap -- \[--local\].*\| status \[--json\] \| supervise/);
  });

  it("performs the storage steps and reports them in status --json", async () => {
    const args = ["--local", "--state-dir", path.join(root, "state"), "--shared-dir", path.join(root, "shared"), "--port", String(await freePort())];
    const result = await run([...args, "--until", "layout"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(fs.statSync(path.join(root, "shared", "codedetect", "uploads")).isDirectory(), true);
    const status = await run(["status", "--json", ...args]);
    assert.equal(status.code, 0, status.stderr);
    const report = JSON.parse(status.stdout);
    assert.deepEqual(Object.keys(report.steps), ["identify", "mount", "layout"]);
    assert.equal(report.stack.health.healthy, false, "nothing serves on this state directory's port");
  });

  it("supervise refuses a state directory that was never brought up, in one line, exit 1", async () => {
    const result = await run(["supervise", "--local", "--state-dir", path.join(root, "never"), "--shared-dir", path.join(root, "shared")]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^bootstrap: step supervise: read .*never: nothing has been brought up from this state directory yet; next: run `npm run bootstrap` first \(npm start does both\)\n$/);
  });
});

// What the runner observes, against a scripted engine: a container removed by someone else between `docker ps` and `docker inspect` is gone, not an error.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { defineStack } from "../../compose/model.ts";
import { observe, type Run } from "../../compose/observe.ts";
import { statePaths } from "../../compose/state.ts";
import { DIGEST_1, REPO } from "./fixtures.ts";

/** A scripted engine (no Docker needed: the race is made exact here): every container listed, one of them gone by the inspect. */
function engine(inspectAll: { stdout: string; stderr: string; exitCode: number }): Run {
  return async (argv) => {
    const args = argv.slice(1).join(" ");
    if (args.startsWith("ps --all --no-trunc --quiet --filter")) return { exitCode: 0, stdout: "", stderr: "", failure: null };
    if (args === "ps --all --no-trunc --quiet") return { exitCode: 0, stdout: "c1\nc2\n", stderr: "", failure: null };
    if (args === "inspect --format {{.Image}} c1 c2") return { ...inspectAll, failure: null };
    if (args.startsWith("image inspect")) return { exitCode: 0, stdout: "sha256:x\n", stderr: "", failure: null };
    if (args.startsWith("image ls")) return { exitCode: 0, stdout: "", stderr: "", failure: null };
    throw new Error(`unexpected docker ${args}`);
  };
}

describe("observe", () => {
  const efs = fs.mkdtempSync(path.join(os.tmpdir(), "observe-"));
  const model = defineStack({ image: `${REPO}:v1@${DIGEST_1}`, efsRoot: efs });
  const paths = statePaths(fs.mkdtempSync(path.join(os.tmpdir(), "observe-state-")));

  it("a container another project removed between the list and the inspect is gone: the images still in use are the others'", async () => {
    const seen = await observe(model, { run: engine({ stdout: "sha256:i1\n", stderr: "Error: No such object: c2\n", exitCode: 1 }), docker: "docker", paths });
    assert.deepEqual(seen.imagesInUse, ["sha256:i1"]);
  });

  it("any other failure of that inspect is still an error naming the engine", async () => {
    await assert.rejects(observe(model, { run: engine({ stdout: "", stderr: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock\n", exitCode: 1 }), docker: "docker", paths }), /Docker Engine not reachable/);
  });
});

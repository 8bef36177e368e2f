// Values with `$` in the stack reach the container as written: Compose would otherwise fill them in from the runner's environment.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { it } from "node:test";
import YAML from "yaml";
import { defineStack } from "../../compose/model.ts";
import { renderCompose } from "../../compose/render.ts";
import { describeDocker, docker, dockerUnavailable } from "./docker-harness.ts";
import { DIGEST_1, REPO } from "./fixtures.ts";

const reason = await dockerUnavailable({ engine: false });

describeDocker("dollar signs in the stack, through the real docker compose config", reason, () => {
  it("an environment value and a storage path keep their `$` exactly (no interpolation from the runner's environment)", async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cdatk-render-"));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const environment = { SECRET: "pa$word", HOMEISH: "${HOME}/x", DOUBLE: "a$$b", TRAILING: "cost$" };
    const file = path.join(dir, "compose.yaml");
    fs.writeFileSync(file, renderCompose(defineStack({ image: `${REPO}:v1@${DIGEST_1}`, efsRoot: "/mnt/efs$shared", environment })));
    const app = YAML.parse(await docker(["compose", "--file", file, "config"])).services.app;
    // `config` prints the resolved file in Compose's own syntax, where `$$` stands for one `$`
    const asPrinted = (value: string) => value.replaceAll("$", "$$$$");
    for (const [key, value] of Object.entries(environment)) assert.equal(app.environment[key], asPrinted(value), key);
    assert.deepEqual(
      app.volumes.map((volume: { source: string }) => volume.source),
      [asPrinted("/mnt/efs$shared/codedetect/database"), asPrinted("/mnt/efs$shared/codedetect/uploads")],
    );
  });
}, "Compose v2");

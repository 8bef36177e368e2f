// Every npm script on an older Node.js says in one line which version it needs and how to get it, instead of a stack trace.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "./helpers.ts";

/** An older Node.js on this machine (the Debian one), or null. */
function olderNode(): string | null {
  for (const candidate of ["/usr/bin/node", "/usr/local/bin/node"]) {
    const probe = spawnSync(candidate, ["-p", "process.versions.node"], { encoding: "utf8" });
    if (probe.status === 0 && Number(probe.stdout.split(".")[0]) < 24) return candidate;
  }
  return null;
}

const older = olderNode();
const manifest = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> };

describe("the Node.js version guard", { skip: older ? false : "no Node.js older than 24 on this machine to try" }, () => {
  it("every npm script starts with the guard", () => {
    for (const [name, command] of Object.entries(manifest.scripts)) assert.match(command, /^node scripts\/require-node\.mjs && /, `script ${name}`);
  });

  it("on an older Node.js, npm run compose / bootstrap / supervise each print the one line and exit 1", () => {
    const bin = path.dirname(older!);
    for (const script of ["compose", "bootstrap", "supervise", "server"]) {
      const result = spawnSync("npm", ["run", "-s", script, "--", "--help"], { cwd: REPO_ROOT, encoding: "utf8", env: { ...process.env, PATH: `${bin}:/usr/bin:/bin` } });
      assert.equal(result.status, 1, `${script}: ${result.stderr}`);
      assert.match(result.stderr, /^codedetect: Node\.js 24 is required \(this is v\d+\.\d+\.\d+\); install it \(Amazon Linux 2023: `sudo dnf install nodejs24`.*and put it first on PATH\n/, script);
      assert.doesNotMatch(result.stderr, /ERR_UNKNOWN_FILE_EXTENSION/);
    }
  });

  it("on Node.js 24 the guard is silent and lets the script run", () => {
    const result = spawnSync(process.execPath, [path.join(REPO_ROOT, "scripts", "require-node.mjs")], { encoding: "utf8" });
    assert.equal(result.status, 0);
    assert.equal(result.stderr, "");
  });
});

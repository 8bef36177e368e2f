// Guard run before every npm script: on an older Node.js, say in one line which version is needed and how to get it (plain JS that Node 14+ parses).
import { readFileSync } from "node:fs";

const manifest = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const range = (manifest.engines && manifest.engines.node) || ">=24";
const wanted = Number((/>=\s*(\d+)/.exec(range) || [])[1] || 24);
const major = Number(process.versions.node.split(".")[0]);
if (major < wanted) {
  process.stderr.write(
    "codedetect: Node.js " + wanted + " is required (this is " + process.version + "); install it (Amazon Linux 2023: `sudo dnf install nodejs" + wanted +
      "`, then run with node-" + wanted + "; elsewhere: nodejs.org or `npm install --prefix DIR node@" + wanted + "`) and put it first on PATH\n",
  );
  process.exit(1);
}

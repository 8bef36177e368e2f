// Build step after tsc: copies what tsc does not emit (the analyzers' *.py, the web page's static files) into dist/server/.
import fs from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const source = path.join(root, "server");
const target = path.join(root, "dist", "server");

function copy(from: string, to: string, keep: (file: string) => boolean): number {
  let count = 0;
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dest = path.join(to, entry.name);
    if (entry.isDirectory()) {
      if (entry.name === "__pycache__" || entry.name === "node_modules") continue;
      count += copy(src, dest, keep);
    } else if (entry.isFile() && keep(src)) {
      fs.mkdirSync(to, { recursive: true });
      fs.copyFileSync(src, dest);
      count += 1;
    }
  }
  return count;
}

const web = path.join(source, "web");
const python = copy(source, target, (file) => file.endsWith(".py") && !file.startsWith(web + path.sep));
const pages = fs.existsSync(web) ? copy(web, path.join(target, "web"), () => true) : 0;
process.stdout.write(`copy-assets: ${python} Python file(s), ${pages} web file(s) into ${path.relative(root, target)}\n`);

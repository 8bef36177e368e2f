// `DATA_DIR=… npm run backup -- DEST`: an online, consistent copy of the database to DEST (atomic; safe while servers run).
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadConfig } from "./config.ts";
import { databaseFile } from "./paths.ts";
import { backupSqlite } from "./store/sqlite.ts";

function fail(message: string, code = 1): never {
  process.stderr.write(`codedetect backup: ${message}\n`);
  process.exit(code);
}

function sameFile(a: string, b: string): boolean {
  try {
    const [x, y] = [fs.statSync(a), fs.statSync(b)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false; // the destination does not exist yet: a new file
  }
}

let destination: string;
try {
  const { positionals } = parseArgs({ allowPositionals: true, options: {} });
  if (positionals.length !== 1) fail("usage: DATA_DIR=/path npm run backup -- DEST   (exactly one destination file)", 2);
  destination = path.resolve(positionals[0]!);
} catch (error) {
  fail(`${(error as Error).message}; usage: DATA_DIR=/path npm run backup -- DEST`, 2);
}
let source: string;
try {
  source = databaseFile(loadConfig().dataDir);
} catch (error) {
  fail(`configuration error: ${(error as Error).message}`, 2);
}
if (!fs.existsSync(source)) fail(`no database at ${source} (is DATA_DIR right?)`);
if (!fs.existsSync(path.dirname(destination))) fail(`destination directory ${path.dirname(destination)} does not exist`);
if (fs.existsSync(destination) && fs.statSync(destination).isDirectory()) fail(`${destination} is a directory; give a file name`);
// the live file itself (by name, another path or a link): the copy would be renamed over it, losing writes made meanwhile
if (sameFile(source, destination)) fail(`${destination} is the live database itself; give the copy another file name`);
try {
  const { pages } = await backupSqlite(source, destination);
  process.stdout.write(`backed up ${source} to ${destination} (${pages} pages)\n`);
} catch (error) {
  fail(`backup of ${source} failed: ${(error as Error).message}`);
}

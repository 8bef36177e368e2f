// `npm run build:template [-- --check]`: writes cloudformation/codedetect.yaml from the generator, or (--check) says whether the committed file is current.
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { USER_DATA_LIMIT_BYTES } from "../bootstrap/user-data/cloud-config.ts";
import { buildTemplate, templateYaml } from "../cloudformation/template/index.ts";

export const TEMPLATE_PATH = path.resolve(import.meta.dirname, "../cloudformation/codedetect.yaml");

function main(): number {
  let check = false;
  try {
    check = parseArgs({ args: process.argv.slice(2), options: { check: { type: "boolean" } } }).values.check === true;
  } catch (error) {
    process.stderr.write(`build:template: ${(error as Error).message}; usage: npm run build:template [-- --check]\n`);
    return 2;
  }
  let text: string;
  let worst: number;
  try {
    text = templateYaml();
    worst = buildTemplate().userDataWorstCaseBytes;
  } catch (error) {
    process.stderr.write(`build:template: ${(error as Error).message}\n`);
    return 1;
  }
  const relative = path.relative(process.cwd(), TEMPLATE_PATH);
  if (check) {
    const current = fs.existsSync(TEMPLATE_PATH) ? fs.readFileSync(TEMPLATE_PATH, "utf8") : null;
    if (current === text) {
      process.stdout.write(`${relative} is current\n`);
      return 0;
    }
    process.stderr.write(`build:template: ${relative} differs from the generator's output; run npm run build:template and commit it\n`);
    return 1;
  }
  const temporary = `${TEMPLATE_PATH}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, text);
  fs.renameSync(temporary, TEMPLATE_PATH);
  process.stdout.write(`wrote ${relative} (${Buffer.byteLength(text)} bytes); user data at most ${worst} of ${USER_DATA_LIMIT_BYTES} bytes with the longest stack values\n`);
  return 0;
}

process.exitCode = main();

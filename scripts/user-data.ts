// `npm run user-data -- [--config FILE]`: prints the generated user data (for stack values from FILE, else example values) and its size.
import { parseArgs } from "node:util";
import { USER_DATA_LIMIT_BYTES, userData } from "../bootstrap/user-data/cloud-config.ts";
import { readStackValues } from "../bootstrap/user-data/values-file.ts";
import { EXAMPLE_VALUES, STACK_VALUE_NAMES } from "../bootstrap/user-data/values.ts";

const USAGE = `usage: npm run user-data -- [--config FILE]  (FILE: JSON with ${STACK_VALUE_NAMES.join(", ")})`;

function main(): number {
  let file: string | undefined;
  try {
    file = parseArgs({ args: process.argv.slice(2), options: { config: { type: "string" } } }).values.config;
  } catch (error) {
    process.stderr.write(`user-data: ${(error as Error).message}; ${USAGE}\n`);
    return 2;
  }
  try {
    const values = file === undefined ? EXAMPLE_VALUES : readStackValues(file);
    const result = userData(values);
    process.stdout.write(result.text);
    process.stderr.write(`user data: ${result.bytes} bytes of ${USER_DATA_LIMIT_BYTES}${file === undefined ? " (example values; --config FILE for yours)" : ""}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`user-data: ${(error as Error).message}\n`);
    return file === undefined ? 1 : 2;
  }
}

process.exitCode = main();

// `npm run supervise`: the long-running watch the systemd unit runs (issue 7, step 8). Not built yet: says so and exits 1.
import { parseArgs } from "node:util";

try {
  parseArgs({ args: process.argv.slice(2), options: { json: { type: "boolean" }, "state-dir": { type: "string" } } });
} catch (error) {
  process.stderr.write(`supervise: ${(error as Error).message}; usage: npm run supervise [-- --state-dir DIR] [--json]\n`);
  process.exit(2);
}
process.stderr.write("supervise: not implemented yet (health watch, restart, drain on Terminating: issue 7 step 8); run `npm run bootstrap` to bring an instance up\n");
process.exit(1);

// The last log lines reach stdout before the process ends, however much is still being written (the drain test's "stopped" line).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { test } from "node:test";
import { ROOT } from "../helpers/server-process.ts";

test("exitAfterLog: every line logged before it is on stdout, the last one included, with the exit code given", async () => {
  // a 200 KB line is more than a pipe holds: it is still being written when the process asks to exit
  const script = `
    const { createLogger } = await import(${JSON.stringify(`${ROOT}/server/log.ts`)});
    const { exitAfterLog } = await import(${JSON.stringify(`${ROOT}/server/lifecycle.ts`)});
    const logger = createLogger("info");
    logger.info({ big: "x".repeat(200000) }, "analyzers stopped");
    logger.info("stopped");
    exitAfterLog(logger, 3);
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let output = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => (output += chunk));
  // read slowly at first, as a busy log collector does, so the pipe stays full while the process wants to exit
  child.stdout.pause();
  setTimeout(() => child.stdout.resume(), 300);
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 3);
  const messages = output.trim().split("\n").map((line) => (JSON.parse(line) as { msg: string }).msg);
  assert.deepEqual(messages, ["analyzers stopped", "stopped"]);
});

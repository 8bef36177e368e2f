// `npm run smoke` against the real server on loopback: passes when it works, fails naming the step when it does not.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { execa } from "execa";
import { freePort } from "../bootstrap/loopback.ts";
import { ROOT, startServer, type RunningServer } from "../helpers/server-process.ts";

let server: RunningServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});
const smoke = (...args: string[]) => execa("node", ["scripts/smoke.ts", ...args], { cwd: ROOT, reject: false, timeout: 180_000 });

test("smoke passes against a working server: health, a real analysis, its stored result, stats counted", { timeout: 180_000 }, async () => {
  const result = await smoke(server.url);
  assert.equal(result.exitCode, 0, `${result.stdout}${result.stderr}`);
  const lines = String(result.stdout).split("\n");
  assert.deepEqual(lines.map((line) => line.split(/\s+/).slice(0, 2).join(" ")).slice(0, 5), ["ok health", "ok stats", "ok analyze", "ok stored", "ok stats"]);
  assert.match(String(result.stdout), /ok    analyze +score \d+/);
});

test("smoke fails with exit 1 naming the step when nothing answers, and exit 2 on usage", async () => {
  const port = await freePort();
  const down = await smoke(`http://127.0.0.1:${port}`);
  assert.equal(down.exitCode, 1);
  assert.match(String(down.stderr), new RegExp(`^smoke: health: cannot reach http://127\\.0\\.0\\.1:${port}/api/health: ECONNREFUSED$`));
  for (const args of [[], ["ftp://example.com"], ["a", "b"]]) {
    const usage = await smoke(...args);
    assert.equal(usage.exitCode, 2, args.join(" "));
    assert.match(String(usage.stderr), /^smoke: .*; usage: npm run smoke -- URL/);
  }
  // The load balancer's DNS name as the stack outputs it (no scheme), or host:port: told how to write it.
  for (const bare of ["codedetect-lb-123.eu-west-1.elb.amazonaws.com", "127.0.0.1:5000", "localhost:5000"]) {
    const usage = await smoke(bare);
    assert.equal(usage.exitCode, 2, bare);
    assert.equal(String(usage.stderr).split("\n")[0], `smoke: "${bare}" has no scheme; give http://${bare} or https://${bare}; usage: npm run smoke -- URL   (e.g. https://codedetect.example.com or the stack's Url output)`);
  }
});

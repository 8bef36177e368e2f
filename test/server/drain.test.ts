// SIGTERM: health turns 503 at once, requests are served through the drain period, in-flight requests finish, exit 0.
import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";
import { startServer } from "../helpers/server-process.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("drain sequence: 503 health, still serving, listener closes, in-flight upload completes, exit 0", async () => {
  const server = await startServer({ env: { DRAIN_SECONDS: "2" } });
  assert.equal((await fetch(`${server.url}/api/health`)).status, 200);

  // An upload whose body is still arriving when the listener closes.
  const boundary = "drainboundary";
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.py"\r\nContent-Type: text/x-python\r\n\r\n`;
  const tail = `x = 1\r\n--${boundary}--\r\n`;
  const inFlight = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request(`${server.url}/api/analyze`, { method: "POST", agent: false, headers: { "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": Buffer.byteLength(head + tail) } }, (res) => {
      let body = "";
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.write(head);
    setTimeout(() => req.end(tail), 3000);
  });
  await sleep(200);

  server.child.kill("SIGTERM");
  await sleep(200);
  const health = await fetch(`${server.url}/api/health`);
  assert.equal(health.status, 503);
  assert.equal(((await health.json()) as { status: string }).status, "draining");
  const stats = await fetch(`${server.url}/api/stats`);
  assert.equal(stats.status, 200, "requests are still served while draining");
  assert.equal(stats.headers.get("connection"), "close", "clients are told to reconnect elsewhere");

  await sleep(2300);
  await assert.rejects(fetch(`${server.url}/api/stats`), "the listener is closed after the drain period");

  const finished = await inFlight;
  assert.equal(finished.status, 200, finished.body);
  assert.equal(JSON.parse(finished.body).filename, "slow.py");
  assert.equal(await server.exited, 0);
  const messages = server.lines.filter((l) => l.startsWith("{")).map((l) => JSON.parse(l).msg as string);
  assert.ok(messages.includes("draining: health now answers 503, requests are still served"));
  assert.equal(messages.at(-1), "stopped");
});

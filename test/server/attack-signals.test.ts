// Signals beyond the drain's SIGTERM: a hang-up drains and stops cleanly instead of dying mid-request; a stop during start-up says so.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import { ROOT, startServer } from "../helpers/server-process.ts";

test("SIGHUP drains like SIGTERM: the in-flight request is answered, the log ends with 'stopped', exit 0", async () => {
  const server = await startServer();
  // Expect: 100-continue: the server's "100 Continue" proves it holds the request before the signal is sent
  const boundary = "hupboundary";
  const body = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="hup.py"\r\nContent-Type: text/x-python\r\n\r\nx = 1\r\n--${boundary}--\r\n`;
  let invited: () => void = () => {};
  const inFlight = new Promise<void>((resolve) => (invited = resolve));
  const request = http.request(`${server.url}/api/analyze`, {
    method: "POST",
    agent: false,
    headers: { "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": Buffer.byteLength(body), expect: "100-continue" },
  });
  const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request.on("response", (res) => {
      let text = "";
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    request.on("error", reject);
  });
  request.on("continue", () => invited());
  request.flushHeaders();
  await inFlight;
  server.child.kill("SIGHUP");
  // the body follows once the server logged the drain (or died of the signal)
  await new Promise<void>((resolve) => {
    const check = () => (server.lines.some((line) => line.includes('"reason":"SIGHUP"')) || server.child.exitCode !== null || server.child.signalCode !== null ? resolve() : setTimeout(check, 20));
    check();
  });
  request.end(body);
  const answer = await answered.catch((error: Error) => ({ status: 0, body: error.message }));
  const code = await server.exited;
  assert.equal(server.child.signalCode, null, "the process was not ended by the signal itself");
  assert.equal(code, 0);
  assert.equal(answer.status, 200, answer.body);
  assert.equal(JSON.parse(answer.body).filename, "hup.py");
  const messages = server.lines.filter((line) => line.startsWith("{")).map((line) => JSON.parse(line).msg as string);
  assert.ok(messages.includes("draining: health now answers 503, requests are still served"));
  assert.equal(messages.at(-1), "stopped");
});

test("SIGTERM while the server is still starting: it ends with exit 0 and a line saying so, not silently by the signal", async () => {
  // An interpreter stand-in that never answers the analyzers' probe holds the start-up at a known step (after the
  // database is open, before listening) without timing; it ends when its parent does.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cdatk-startup-"));
  const python = path.join(dir, "python3");
  fs.writeFileSync(python, "#!/bin/sh\nwhile kill -0 $PPID 2>/dev/null; do sleep 0.1; done\n", { mode: 0o755 });
  const child = spawn(process.execPath, [path.join(ROOT, "server/main.ts")], {
    cwd: ROOT,
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", DATA_DIR: path.join(dir, "data"), ANALYZER_PYTHON: python },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("close", (code, signal) => resolve({ code, signal })));
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.includes("database schema migrated")) resolve();
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
  });
  child.kill("SIGTERM");
  const { code, signal } = await exited;
  fs.rmSync(dir, { recursive: true, force: true });
  assert.equal(signal, null, `ended by the signal itself:\n${output}`);
  assert.equal(code, 0, output);
  // the probe waits up to 15 s: unless this machine stalled that long, the signal came during start-up
  if (!output.includes('"msg":"listening"')) assert.match(output, /^codedetect: stopped by SIGTERM during start-up, before serving$/m);
});

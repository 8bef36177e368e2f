// Signals beyond SIGTERM/SIGINT: a hang-up (closed terminal or ssh session) drains and stops cleanly instead of dying mid-request.
import assert from "node:assert/strict";
import { test } from "node:test";
import { startServer } from "../helpers/server-process.ts";

test("SIGHUP drains like SIGTERM: the in-flight request is answered, the log ends with 'stopped', exit 0", async () => {
  const server = await startServer();
  // a request whose body is still arriving when the signal comes; it must still be answered
  const boundary = "hupboundary";
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="hup.py"\r\nContent-Type: text/x-python\r\n\r\n`;
  const tail = `x = 1\r\n--${boundary}--\r\n`;
  const { request } = await import("node:http");
  let sendTail: () => void = () => {};
  const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${server.url}/api/analyze`, { method: "POST", agent: false, headers: { "content-type": `multipart/form-data; boundary=${boundary}`, "content-length": Buffer.byteLength(head + tail) } }, (res) => {
      let body = "";
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.write(head);
    sendTail = () => req.end(tail);
  });
  // the rest of the body is sent once the server logged the drain (or died of the signal)
  server.child.kill("SIGHUP");
  await new Promise<void>((resolve) => {
    const check = () => (server.lines.some((line) => line.includes('"reason":"SIGHUP"')) || server.child.exitCode !== null || server.child.signalCode !== null ? resolve() : setTimeout(check, 20));
    check();
  });
  sendTail();
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

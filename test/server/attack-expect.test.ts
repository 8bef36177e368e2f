// "Expect: 100-continue" on /api/report: a body declared over the report limit is refused without being invited, as uploads are.
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { startServer } from "../helpers/server-process.ts";

/** Sends the head only and resolves with the status line of the first response (interim 100 included). */
function firstStatusLine(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.write(head));
    let received = "";
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      const end = received.indexOf("\r\n");
      if (end !== -1) {
        socket.destroy();
        resolve(received.slice(0, end));
      }
    });
    socket.on("error", reject);
    socket.on("close", () => resolve(received));
  });
}

test("a report declaring 1 MB with Expect: 100-continue gets 413 at once, never 100 Continue", async () => {
  const server = await startServer();
  try {
    const head = "POST /api/report HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 1048576\r\n\r\n";
    assert.equal(await firstStatusLine(server.port, head), "HTTP/1.1 413 Payload Too Large");
    // a report within the limit is still invited
    const small = "POST /api/report HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
    assert.equal(await firstStatusLine(server.port, small), "HTTP/1.1 100 Continue");
  } finally {
    await server.stop();
  }
});

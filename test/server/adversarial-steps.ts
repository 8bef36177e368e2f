// Shared steps of the adversarial suites: is the server still serving, a JSON refusal, a log line, an upload, a flood.
import assert from "node:assert/strict";
import net from "node:net";
import type { RunningServer } from "../helpers/server-process.ts";
import { json, multipartBody, postHead, type RawAnswer } from "./raw-http.ts";

export const MiB = 1024 * 1024;

export async function assertServing(server: RunningServer): Promise<void> {
  assert.equal(server.child.exitCode, null, `the server process ended:\n${server.lines.slice(-20).join("\n")}`);
  const health = await fetch(`${server.url}/api/health`);
  assert.equal(health.status, 200);
  await health.arrayBuffer();
}

export function assertJsonError(answer: RawAnswer, status: number, message: RegExp): void {
  assert.equal(answer.status, status, answer.body.toString());
  assert.match(answer.headers["content-type"] ?? "", /^application\/json/);
  assert.match(json(answer).error, message);
}

/** Waits until the server printed a log line that satisfies the predicate (it writes asynchronously). */
export async function logLine(server: RunningServer, predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (let attempt = 0; attempt < 100; attempt++) {
    for (const raw of server.lines) {
      if (!raw.startsWith("{")) continue;
      const line = JSON.parse(raw) as Record<string, unknown>;
      if (predicate(line)) return line;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.fail("the expected log line never came");
}

export function uploadRequest(filename: string, content: string | Buffer, field = "file"): Array<string | Buffer> {
  const boundary = "----cdAdversarialBoundary";
  const body = multipartBody(boundary, [{ name: field, filename, content }]);
  return [postHead("/api/analyze", `multipart/form-data; boundary=${boundary}`, body.length), body];
}

/**
 * Sends a body of up to 1 GB (chunked when the head says so), 1 MiB at a time, with backpressure, until the server
 * answers or closes. Resolves with the answer and how many body bytes went out before it.
 */
export async function flood(server: RunningServer, head: string, first: Buffer): Promise<{ answer: string; sent: number }> {
  const isChunked = /transfer-encoding: chunked/i.test(head);
  const frameOf = (data: Buffer) => (isChunked ? Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from("\r\n")]) : data);
  const socket = net.connect(server.port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  let answer = "";
  let closed = false;
  socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
  socket.on("close", () => (closed = true));
  socket.on("error", () => (closed = true));
  const piece = Buffer.alloc(MiB, "#");
  const frame = frameOf(piece);
  let wake = () => undefined as void;
  socket.on("drain", () => wake());
  socket.on("close", () => wake());
  socket.write(head);
  if (first.length > 0) socket.write(frameOf(first));
  let sent = first.length;
  while (!answer.includes("\r\n\r\n") && !closed && sent < 1024 * MiB) {
    sent += piece.length;
    if (!socket.write(frame)) await new Promise<void>((resolve) => (wake = resolve));
  }
  // the answer may still be on its way when the server closed its reading side
  if (!answer.includes("\r\n\r\n") && !closed) await new Promise((resolve) => socket.once("close", resolve));
  socket.destroy();
  return { answer, sent };
}

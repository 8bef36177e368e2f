// The attack's second round on the real server: trailing slashes, admission before 100 Continue, invisible name characters, report encodings.
import assert from "node:assert/strict";
import net from "node:net";
import { gzipSync } from "node:zlib";
import { after, before, describe, test } from "node:test";
import { multipartFile } from "../helpers/raw-client.ts";
import { stdlibSource } from "../helpers/python-sources.ts";
import { startServer, upload, type RunningServer } from "../helpers/server-process.ts";

/** A connection that sent a head and reads what comes back: the first status line, or the whole first answer. */
function openHead(port: number, head: string) {
  const socket = net.connect(port, "127.0.0.1", () => socket.write(head));
  let received = "";
  const waiters: Array<() => void> = [];
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1");
    for (const wake of waiters.splice(0)) wake();
  });
  socket.on("close", () => {
    for (const wake of waiters.splice(0)) wake();
  });
  socket.on("error", () => undefined);
  const until = (done: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => (done() || socket.destroyed ? resolve() : waiters.push(check));
      check();
    });
  return {
    socket,
    async statusLine(): Promise<string> {
      await until(() => received.includes("\r\n"));
      return received.slice(0, received.indexOf("\r\n"));
    },
    /** The first final answer (after any 100 Continue), once its Content-Length worth of body has come. */
    async finalAnswer(): Promise<{ status: number; headers: string; body: any }> {
      const parse = () => {
        const text = received.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, "");
        const end = text.indexOf("\r\n\r\n");
        if (end === -1) return null;
        const head = text.slice(0, end);
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        const body = text.slice(end + 4);
        if (Buffer.byteLength(body, "latin1") < length) return null;
        return { status: Number(head.slice(9, 12)), headers: head, body: JSON.parse(Buffer.from(body, "latin1").toString("utf8")) };
      };
      await until(() => parse() !== null);
      const answer = parse();
      if (!answer) throw new Error(`no complete answer: ${JSON.stringify(received.slice(0, 300))}`);
      return answer;
    },
    close: () => socket.destroy(),
  };
}

const uploadHead = (contentType: string, length: number) =>
  `POST /api/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nExpect: 100-continue\r\nContent-Length: ${length}\r\n\r\n`;

describe("one server", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server.stop();
  });

  test("every route answers the same with and without a trailing slash", async () => {
    for (const path of ["/api/health", "/api/stats", "/api/info", "/api/history", `/api/analysis/${"a".repeat(64)}`, "/api/nothing-here"]) {
      const plain = await fetch(`${server.url}${path}`);
      const slashed = await fetch(`${server.url}${path}/`);
      assert.equal(slashed.status, plain.status, `${path}/ answers as ${path}`);
      assert.deepEqual(Object.keys(await slashed.json()), Object.keys(await plain.json()), path);
    }
    const analyzed = await fetch(`${server.url}/api/analyze/`, { method: "POST", body: formWith("slash.py", "x = 1\n") });
    assert.equal(analyzed.status, 200);
    const report = await fetch(`${server.url}/api/report/?q=1`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "a@example.com", type: "bug", message: "slash" }),
    });
    assert.equal(report.status, 200);
  });

  test("zero-width characters and the BOM are dropped from file names, as the direction marks are", async () => {
    const answer = await upload(server.url, "a\u200bb\u200cc\u200dd\u2060e\ufeff\u200e\u061c.py", "x = 1\n");
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.filename, "abcde.py");
  });

  test("a gzip-encoded report is 415, not 400, and names the encoding", async () => {
    const body = gzipSync(JSON.stringify({ email: "a@example.com", type: "bug", message: "zipped" }));
    const response = await fetch(`${server.url}/api/report`, { method: "POST", headers: { "content-type": "application/json", "content-encoding": "gzip" }, body });
    assert.equal(response.status, 415);
    assert.match(((await response.json()) as { error: string }).error, /Content-Encoding "gzip".*uncompressed/);
  });

  test("a report declared as UTF-16 is 415 naming the charset; UTF-8 declared explicitly is accepted", async () => {
    const json = JSON.stringify({ email: "a@example.com", type: "feedback", message: "é" });
    const utf16 = Buffer.from(`\ufeff${json}`, "utf16le");
    const refused = await fetch(`${server.url}/api/report`, { method: "POST", headers: { "content-type": "application/json; charset=utf-16" }, body: utf16 });
    assert.equal(refused.status, 415);
    assert.match(((await refused.json()) as { error: string }).error, /charset "utf-16".*UTF-8/);
    for (const charset of ["utf-8", "UTF8", '"UTF-8"']) {
      const accepted = await fetch(`${server.url}/api/report`, { method: "POST", headers: { "content-type": `application/json; charset=${charset}` }, body: json });
      assert.equal(accepted.status, 200, charset);
    }
  });
});

function formWith(name: string, content: string): FormData {
  const form = new FormData();
  form.append("file", new Blob([content]), name);
  return form;
}

test("Expect: 100-continue from a client over its share gets 429 at once, never 100 Continue", async () => {
  const server = await startServer({ env: { CLIENT_MAX_ANALYSES: "1" } });
  try {
    const form = multipartFile("held.py", "x = 1\n");
    const length = form.head.length + form.tail.length;
    const held = openHead(server.port, uploadHead(form.contentType, length));
    // the 100 Continue comes once the server has counted this upload as the client's one analysis in flight
    assert.equal(await held.statusLine(), "HTTP/1.1 100 Continue");
    const second = openHead(server.port, uploadHead(form.contentType, length));
    assert.equal(await second.statusLine(), "HTTP/1.1 429 Too Many Requests");
    const refused = await second.finalAnswer();
    assert.equal(refused.status, 429, refused.headers);
    assert.match(refused.headers, /Retry-After: 5/i);
    assert.match(refused.body.error, /Too many analyses from your address/);
    second.close();
    held.socket.write(Buffer.concat([form.head, form.tail]));
    assert.equal((await held.finalAnswer()).status, 200);
    held.close();
    // with the share free again, the body is invited
    const third = openHead(server.port, uploadHead(form.contentType, length));
    assert.equal(await third.statusLine(), "HTTP/1.1 100 Continue");
    third.close();
  } finally {
    await server.stop();
  }
});

test("Expect: 100-continue while the analyzers' queue is full gets 503 at once, never 100 Continue", async () => {
  const server = await startServer({ env: { ANALYZER_WORKERS: "1", ANALYZER_QUEUE: "0", CLIENT_MAX_ANALYSES: "4", HEALTH_INTERVAL_SECONDS: "1", ANALYZER_TIMEOUT_SECONDS: "55" } });
  try {
    // seconds of pylint: it fills the only lane (the client may have more in flight: the queue, not its share, refuses)
    const running = fetch(`${server.url}/api/analyze`, { method: "POST", body: formWith("slow.py", stdlibSource("tarfile")) });
    for (;;) {
      const health = (await (await fetch(`${server.url}/api/health`)).json()) as { checks: { analyzers: { running: number } } };
      if (health.checks.analyzers.running === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const form = multipartFile("small.py", "x = 1\n");
    const waiting = openHead(server.port, uploadHead(form.contentType, form.head.length + form.tail.length));
    assert.equal(await waiting.statusLine(), "HTTP/1.1 503 Service Unavailable");
    const refused = await waiting.finalAnswer();
    waiting.close();
    assert.equal(refused.status, 503, refused.headers);
    assert.match(refused.body.error, /Server busy: too many analyses waiting/);
    assert.equal((await running).status, 200);
  } finally {
    await server.stop();
  }
});

// Hostile requests at the HTTP level against the real server over raw sockets: what Node's parser refuses, what it
// would refuse silently, and bodies too large. Every refusal is JSON with a precise message; the process serves on.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startServer, type RunningServer } from "../helpers/server-process.ts";
import { assertJsonError, assertServing, flood, logLine, MiB, uploadRequest } from "./adversarial-steps.ts";
import { exchange, json, postHead } from "./raw-http.ts";

let server: RunningServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  assert.equal(await server.stop(), 0, "the server must still be running and stop cleanly");
});

describe("what Node's HTTP parser refuses is answered in JSON and logged", () => {
  test("headers over the limit: 431 with the limit named, and a log line", async () => {
    const answer = await exchange(server.port, [`GET /api/stats HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`], { after: "open" });
    assertJsonError(answer, 431, /headers too large: the limit is \d+ bytes/);
    assert.equal(answer.headers.connection, "close");
    await logLine(server, (line) => line.msg === "request refused by the HTTP parser" && line.status === 431 && line.error_code === "HPE_HEADER_OVERFLOW");
    await assertServing(server);
  });

  test("a garbage request line: 400 naming the problem, and a log line", async () => {
    const answer = await exchange(server.port, ["GARBAGE\r\n\r\n"], { after: "end" });
    assertJsonError(answer, 400, /^Malformed HTTP request: .*method/i);
    await logLine(server, (line) => line.msg === "request refused by the HTTP parser" && line.error_code === "HPE_INVALID_METHOD");
    await assertServing(server);
  });

  test("Content-Length together with Transfer-Encoding (request smuggling): 400", async () => {
    const request = "POST /api/report HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assertJsonError(await exchange(server.port, [request], { after: "open" }), 400, /Transfer-Encoding/);
    await assertServing(server);
  });

  test("a broken chunk size in the middle of an upload: 400, and the upload is not kept", async () => {
    const [, body] = uploadRequest("broken.py", "x = 1\n");
    const head = postHead("/api/analyze", "multipart/form-data; boundary=----cdAdversarialBoundary", null);
    const answer = await exchange(server.port, [head, `10\r\n${(body as Buffer).subarray(0, 16).toString("latin1")}\r\nZZ\r\n`], { after: "open" });
    assertJsonError(answer, 400, /Malformed HTTP request/);
    await assertServing(server);
  });

  test("garbage pipelined after a whole upload: the upload still gets its own answer, then the connection ends", async () => {
    const [head, body] = uploadRequest("pipelined.py", "p = 1\n");
    const answer = await exchange(server.port, [Buffer.concat([Buffer.from(head as string), body as Buffer, Buffer.from("GARBAGE\r\n\r\n")])], { after: "open" });
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(json(answer).filename, "pipelined.py");
    assert.equal(answer.headers.connection, "close");
    await logLine(server, (line) => line.msg === "request refused by the HTTP parser" && line.error_code === "HPE_INVALID_METHOD");
  });

  test("every other malformed request line or header: 400 JSON naming what is wrong", async () => {
    const cases: Array<[string, RegExp]> = [
      ["GET / HTTP/9.9\r\n\r\n", /HTTP version/],
      ["GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", /Malformed HTTP request/],
      ["GET / HTTP/1.1\r\nBad Header\r\n\r\n", /header token/],
      ["GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", /Content-Length/],
      ["GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", /Duplicate Content-Length/],
      ["\u0000\u0001\u0002\r\n\r\n", /method/],
    ];
    for (const [request, message] of cases) assertJsonError(await exchange(server.port, [request], { after: "end" }), 400, message);
    await assertServing(server);
  });
});

describe("what Node would refuse with an empty body or a silent close", () => {
  test("HTTP/1.1 without Host: 400 in JSON", async () => {
    assertJsonError(await exchange(server.port, ["GET /api/stats HTTP/1.1\r\n\r\n"], { after: "open" }), 400, /Missing Host header/);
  });

  test("an Expect other than 100-continue: 417 in JSON", async () => {
    const answer = await exchange(server.port, ["GET /api/stats HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\n\r\n"], { after: "open" });
    assertJsonError(answer, 417, /Expect "teapot" is not supported/);
  });

  test("CONNECT: 405 in JSON, this is no proxy", async () => {
    assertJsonError(await exchange(server.port, ["CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"], { after: "open" }), 405, /not a proxy/);
    await assertServing(server);
  });
});

describe("bodies too large are refused promptly", () => {
  test("an endless chunked upload gets 413 long before 1 GB, and the connection is closed", async () => {
    const boundary = "----cdFlood";
    const head = postHead("/api/analyze", `multipart/form-data; boundary=${boundary}`, null);
    const first = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="flood.py"\r\n\r\n`);
    const { answer, sent } = await flood(server, head, first);
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /"error":"File too large: the limit is 5 MB"/);
    assert.match(answer, /Connection: close/i);
    assert.ok(sent < 64 * MiB, `the server read ${sent >> 20} MiB before refusing a 5 MB upload`);
    await assertServing(server);
  });

  test("an endless text field before the file: 413 long before 1 GB, not read to its end", async () => {
    const boundary = "----cdFieldFlood";
    const head = postHead("/api/analyze", `multipart/form-data; boundary=${boundary}`, null);
    const { answer, sent } = await flood(server, head, Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n`));
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /too large/);
    assert.ok(sent < 64 * MiB, `the server read ${sent >> 20} MiB of a form field it ignores`);
    await assertServing(server);
  });

  test("an endless chunked report gets 413 long before 1 GB", async () => {
    const { answer, sent } = await flood(server, postHead("/api/report", "application/json", null), Buffer.from('{"message":"'));
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /Request body too large: the limit is 16384 bytes/);
    assert.ok(sent < 64 * MiB, `the server read ${sent >> 20} MiB before refusing a 16 KB report`);
    await assertServing(server);
  });

  test("an endless body sent to routes that read none is cut off after their answer, which the client gets", async () => {
    for (const head of [
      "POST /api/nothing HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
      `GET /api/stats HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 * MiB}\r\n\r\n`,
      `GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 * MiB}\r\n\r\n`,
    ]) {
      const { answer, sent } = await flood(server, head, Buffer.alloc(0));
      assert.match(answer, /^HTTP\/1\.1 (404|200) /, head);
      assert.match(answer, /Connection: close/i, head);
      assert.ok(sent < 64 * MiB, `${head}: the server read ${sent >> 20} MiB of a body nobody uses`);
    }
    await assertServing(server);
  });

  test("a 20 MB report is 413, not 400, and is refused without being read", async () => {
    const answer = await exchange(server.port, [postHead("/api/report", "application/json", 20 * 1000 * 1000), '{"email":'], { after: "open" });
    assertJsonError(answer, 413, /Request body too large: the limit is 16384 bytes/);
    assert.equal(answer.headers.connection, "close");
    await assertServing(server);
  });

  test("a 1 MB report is read to its end and answered 413 on a connection that stays usable", async () => {
    const response = await fetch(`${server.url}/api/report`, { method: "POST", headers: { "content-type": "application/json" }, body: "x".repeat(1_000_000) });
    assert.equal(response.status, 413);
    assert.match(((await response.json()) as { error: string }).error, /too large/);
    assert.notEqual(response.headers.get("connection"), "close");
  });

  test("a report whose client goes away mid-body leaves the server serving", async () => {
    const answer = await exchange(server.port, [postHead("/api/report", "application/json", 500), '{"email":"a@example.org"'], { after: "reset" });
    assert.equal(answer.status, null);
    await logLine(server, (line) => line.path === "/api/report" && line.aborted === true);
    await assertServing(server);
  });
});

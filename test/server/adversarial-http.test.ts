// Hostile requests against the real server over raw sockets: what Node's parser refuses, bodies too large, odd names,
// odd paths and methods. Every refusal is JSON with a precise message, and the process serves on.
import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../../server/config.ts";
import { startServer, type RunningServer } from "../helpers/server-process.ts";
import { exchange, json, multipartBody, postHead, type RawAnswer } from "./raw-http.ts";

const MiB = 1024 * 1024;
const DEPLOYMENT_ENV = {
  IMAGE_TAG: "3.1.0-test",
  ACTIVE_ENVIRONMENT: "green",
  DEPLOYED_BY: "pipeline-example",
  DEPLOYMENT_TIME: "2026-01-02T03:04:05Z",
  GIT_COMMIT: "0123456789abcdef",
  INSTANCE_ID: "i-0example",
  AWS_REGION: "eu-west-1",
};

let server: RunningServer;
before(async () => {
  server = await startServer({ env: DEPLOYMENT_ENV });
});
after(async () => {
  assert.equal(await server.stop(), 0, "the server must still be running and stop cleanly");
});

async function assertServing(): Promise<void> {
  assert.equal(server.child.exitCode, null, `the server process ended:\n${server.lines.slice(-20).join("\n")}`);
  const health = await fetch(`${server.url}/api/health`);
  assert.equal(health.status, 200);
  await health.arrayBuffer();
}

function assertJsonError(answer: RawAnswer, status: number, message: RegExp): void {
  assert.equal(answer.status, status, answer.body.toString());
  assert.match(answer.headers["content-type"] ?? "", /^application\/json/);
  assert.match(json(answer).error, message);
}

/** Waits until the server printed a log line that satisfies the predicate (it writes asynchronously). */
async function logLine(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
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

function uploadRequest(filename: string, content: string | Buffer, field = "file"): Array<string | Buffer> {
  const boundary = "----cdAdversarialBoundary";
  const body = multipartBody(boundary, [{ name: field, filename, content }]);
  return [postHead("/api/analyze", `multipart/form-data; boundary=${boundary}`, body.length), body];
}

/**
 * Sends a body of up to 1 GB (chunked when the head says so), 1 MiB at a time, with backpressure, until the server
 * answers or closes. Resolves with the answer and how many body bytes went out before it.
 */
async function flood(head: string, first: Buffer): Promise<{ answer: string; sent: number }> {
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

describe("what Node's HTTP parser refuses is answered in JSON and logged", () => {
  test("headers over the limit: 431 with the limit named, and a log line", async () => {
    const answer = await exchange(server.port, [`GET /api/stats HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`], { after: "open" });
    assertJsonError(answer, 431, /headers too large: the limit is \d+ bytes/);
    assert.equal(answer.headers.connection, "close");
    await logLine((line) => line.msg === "request refused by the HTTP parser" && line.status === 431 && line.error_code === "HPE_HEADER_OVERFLOW");
    await assertServing();
  });

  test("a garbage request line: 400 naming the problem, and a log line", async () => {
    const answer = await exchange(server.port, ["GARBAGE\r\n\r\n"], { after: "end" });
    assertJsonError(answer, 400, /^Malformed HTTP request: .*method/i);
    await logLine((line) => line.msg === "request refused by the HTTP parser" && line.error_code === "HPE_INVALID_METHOD");
    await assertServing();
  });

  test("Content-Length together with Transfer-Encoding (request smuggling): 400", async () => {
    const request = "POST /api/report HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assertJsonError(await exchange(server.port, [request], { after: "open" }), 400, /Transfer-Encoding/);
    await assertServing();
  });

  test("a broken chunk size in the middle of an upload: 400, and the upload is not kept", async () => {
    const [, body] = uploadRequest("broken.py", "x = 1\n");
    const head = postHead("/api/analyze", "multipart/form-data; boundary=----cdAdversarialBoundary", null);
    const answer = await exchange(server.port, [head, `10\r\n${(body as Buffer).subarray(0, 16).toString("latin1")}\r\nZZ\r\n`], { after: "open" });
    assertJsonError(answer, 400, /Malformed HTTP request/);
    await assertServing();
  });

  test("garbage pipelined after a whole upload: the upload still gets its own answer, then the connection ends", async () => {
    const [head, body] = uploadRequest("pipelined.py", "p = 1\n");
    const answer = await exchange(server.port, [Buffer.concat([Buffer.from(head as string), body as Buffer, Buffer.from("GARBAGE\r\n\r\n")])], { after: "open" });
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(json(answer).filename, "pipelined.py");
    assert.equal(answer.headers.connection, "close");
    await logLine((line) => line.msg === "request refused by the HTTP parser" && line.error_code === "HPE_INVALID_METHOD");
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
    await assertServing();
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
    await assertServing();
  });
});

describe("bodies too large are refused promptly", () => {
  test("an endless chunked upload gets 413 long before 1 GB, and the connection is closed", async () => {
    const boundary = "----cdFlood";
    const head = postHead("/api/analyze", `multipart/form-data; boundary=${boundary}`, null);
    const first = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="flood.py"\r\n\r\n`);
    const { answer, sent } = await flood(head, first);
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /"error":"File too large: the limit is 5 MB"/);
    assert.match(answer, /Connection: close/i);
    assert.ok(sent < 64 * MiB, `the server read ${sent >> 20} MiB before refusing a 5 MB upload`);
    await assertServing();
  });

  test("an endless text field before the file: 413 long before 1 GB, not read to its end", async () => {
    const boundary = "----cdFieldFlood";
    const head = postHead("/api/analyze", `multipart/form-data; boundary=${boundary}`, null);
    const { answer, sent } = await flood(head, Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\n`));
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /too large/);
    assert.ok(sent < 64 * MiB, `the server read ${sent >> 20} MiB of a form field it ignores`);
    await assertServing();
  });

  test("an endless chunked report gets 413 long before 1 GB", async () => {
    const { answer, sent } = await flood(postHead("/api/report", "application/json", null), Buffer.from('{"message":"'));
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.match(answer, /Request body too large: the limit is 16384 bytes/);
    assert.ok(sent < 64 * MiB, `the server read ${sent >> 20} MiB before refusing a 16 KB report`);
    await assertServing();
  });

  test("an endless body sent to routes that read none is cut off after their answer, which the client gets", async () => {
    for (const head of [
      "POST /api/nothing HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
      `GET /api/stats HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 * MiB}\r\n\r\n`,
      `GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: ${1024 * MiB}\r\n\r\n`,
    ]) {
      const { answer, sent } = await flood(head, Buffer.alloc(0));
      assert.match(answer, /^HTTP\/1\.1 (404|200) /, head);
      assert.match(answer, /Connection: close/i, head);
      assert.ok(sent < 64 * MiB, `${head}: the server read ${sent >> 20} MiB of a body nobody uses`);
    }
    await assertServing();
  });

  test("a 20 MB report is 413, not 400, and is refused without being read", async () => {
    const answer = await exchange(server.port, [postHead("/api/report", "application/json", 20 * 1000 * 1000), '{"email":'], { after: "open" });
    assertJsonError(answer, 413, /Request body too large: the limit is 16384 bytes/);
    assert.equal(answer.headers.connection, "close");
    await assertServing();
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
    await logLine((line) => line.path === "/api/report" && line.aborted === true);
    await assertServing();
  });
});

describe("file names and sizes", () => {
  test("a UTF-8 file name, sent as raw bytes the way browsers and curl do, comes back intact", async () => {
    const answer = await exchange(server.port, uploadRequest("résumé_日本.py", "x = 1\n"), { after: "open" });
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(json(answer).filename, "résumé_日本.py");
  });

  test("an RFC 5987 filename* is decoded too", async () => {
    const boundary = "----cdStar";
    const body = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8''r%C3%A9sum%C3%A9.py\r\n\r\ny = 2\n\r\n--${boundary}--\r\n`,
    );
    const answer = await exchange(server.port, [postHead("/api/analyze", `multipart/form-data; boundary=${boundary}`, body.length), body], { after: "open" });
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(json(answer).filename, "résumé.py");
  });

  test("a file of exactly 5 MiB is accepted; one byte more is 413", async () => {
    // one long docstring: the tools get through it quickly
    const line = `${"a".repeat(79)}\n`;
    let exact = `"""${line.repeat(Math.floor((5 * MiB - 8) / line.length))}`;
    exact += `${"b".repeat(5 * MiB - exact.length - 4)}"""\n`;
    assert.equal(Buffer.byteLength(exact), 5 * MiB);
    const accepted = await exchange(server.port, uploadRequest("exact.py", exact), { after: "open", guardMs: 60_000 });
    assert.equal(accepted.status, 200, accepted.body.toString());
    assert.equal(json(accepted).original_code.length, 5 * MiB);
    const over = await exchange(server.port, uploadRequest("over.py", `${exact}#`), { after: "open" });
    assertJsonError(over, 413, /File too large: the limit is 5 MB/);
  });

  test("a name over 255 characters is shortened keeping its .py, and accepted", async () => {
    const long = `${"ü".repeat(150)}${"n".repeat(150)}.py`;
    const answer = await exchange(server.port, uploadRequest(long, "z = 3\n"), { after: "open" });
    assert.equal(answer.status, 200, answer.body.toString());
    const shown = json(answer).filename as string;
    assert.equal(Array.from(shown).length, 255);
    assert.ok(shown.endsWith("n.py") && shown.startsWith("ü".repeat(150)), shown);
  });

  test("bidirectional overrides and control characters are dropped from the name shown", async () => {
    const answer = await exchange(server.port, uploadRequest("inv\u202eoice.py", "w = 4\n"), { after: "open" });
    assert.equal(answer.status, 200, answer.body.toString());
    assert.equal(json(answer).filename, "invoice.py");
    // a raw control character is refused by the multipart parser itself; encoded, it arrives and is dropped
    const boundary = "----cdControl";
    const body = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename*=UTF-8''bi%01ll%E2%80%AE.py\r\n\r\nw = 4\n\r\n--${boundary}--\r\n`);
    const encoded = await exchange(server.port, [postHead("/api/analyze", `multipart/form-data; boundary=${boundary}`, body.length), body], { after: "open" });
    assert.equal(encoded.status, 200, encoded.body.toString());
    assert.equal(json(encoded).filename, "bill.py");
  });

  test("a long name that is not .py is still refused as not .py", async () => {
    const answer = await exchange(server.port, uploadRequest(`${"n".repeat(300)}.txt`, "z = 3\n"), { after: "open" });
    assertJsonError(answer, 400, /^Only \.py files allowed$/);
  });

  test("an empty __init__.py is valid Python: analysed, score 100, no findings", async () => {
    const answer = await exchange(server.port, uploadRequest("__init__.py", ""), { after: "open" });
    assert.equal(answer.status, 200, answer.body.toString());
    const body = json(answer);
    assert.equal(body.score, 100);
    assert.equal(body.original_code, "");
    assert.deepEqual(body.summary, { total_issues: 0, security_issues: 0, high_complexity_functions: 0 });
    const stored = await fetch(`${server.url}/api/analysis/${body.file_hash}`);
    assert.equal(stored.status, 200);
  });

  test("the file sent complete in a field not named file: 400 naming the field", async () => {
    assertJsonError(await exchange(server.port, uploadRequest("a.py", "x = 1\n", "upload"), { after: "open" }), 400, /Unexpected file field "upload".*field "file"/);
  });
});

describe("paths and methods", () => {
  const hash = "a".repeat(64);
  test("/api/analysis/ and /api/analysis/<hash>/extra do not exist: 404, not 405", async () => {
    for (const path of ["/api/analysis/", "/api/analysis", `/api/analysis/${hash}/extra`]) {
      const answer = await exchange(server.port, [`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`], { after: "open" });
      assertJsonError(answer, 404, /^Not found/);
    }
    const wrongMethod = await exchange(server.port, [`DELETE /api/analysis/${hash} HTTP/1.1\r\nHost: x\r\n\r\n`], { after: "open" });
    assertJsonError(wrongMethod, 405, /use GET, HEAD/);
    assert.equal(wrongMethod.headers.allow, "GET, HEAD");
  });

  test("HEAD works on health as on every GET route: the GET's status and headers, no body", async () => {
    for (const [path, status] of [["/api/health", 200], ["/api/stats", 200], ["/api/info", 200], [`/api/analysis/${hash}`, 404], ["/", 200]] as const) {
      const answer = await exchange(server.port, [`HEAD ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`], { after: "open", head: true });
      assert.equal(answer.status, status, path);
      assert.ok(Number(answer.headers["content-length"]) > 0, `${path}: HEAD names the GET body's length`);
      assert.equal(answer.body.length, 0, `${path}: a body after HEAD`);
    }
  });
});

describe("/api/info for the earlier web page", () => {
  test("carries the page's names beside the new ones, from IMAGE_TAG, ACTIVE_ENVIRONMENT, DEPLOYED_BY and the DEPLOYMENT_TIME alias", async () => {
    const info = (await (await fetch(`${server.url}/api/info`)).json()) as { deployment: Record<string, unknown>; environment: Record<string, unknown> };
    assert.equal(info.deployment.docker_tag, "3.1.0-test");
    assert.equal(info.deployment.image_tag, "3.1.0-test");
    assert.equal(info.deployment.deployed_at, "2026-01-02T03:04:05Z");
    assert.equal(info.deployment.git_commit, "0123456789abcdef");
    assert.equal(info.deployment.active_environment, "green");
    assert.equal(info.deployment.instance_id, "i-0example");
    assert.equal(info.deployment.deployed_by, "pipeline-example");
    assert.equal(info.environment.aws_region, "eu-west-1");
    assert.equal(info.environment.region, "eu-west-1");
  });

  test("DOCKER_TAG is accepted for IMAGE_TAG, which wins when both are set", () => {
    assert.equal(loadConfig({ DOCKER_TAG: "old-name" }).deployment.imageTag, "old-name");
    assert.equal(loadConfig({ DOCKER_TAG: "old-name", IMAGE_TAG: "new-name" }).deployment.imageTag, "new-name");
    assert.equal(loadConfig({ DEPLOYMENT_TIME: "t1", DEPLOYED_AT: "t2" }).deployment.deployedAt, "t2");
  });
});

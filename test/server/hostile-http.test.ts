// Issue 14, item 8: what a hostile client found in the HTTP layer: reports with terminal escapes or broken Unicode, the absolute-form target, two Host headers, aborted requests logged as 200, CORS answers a cache could mix up.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { startServer, type RunningServer } from "../helpers/server-process.ts";
import { assertJsonError, assertServing, logLine } from "./adversarial-steps.ts";
import { exchange, json, postHead } from "./raw-http.ts";

const ORIGIN = "https://app.example.org";

describe("hostile HTTP (one server)", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ env: { ANALYZER_WORKERS: "1", CORS_ORIGINS: ORIGIN, CLIENT_REPORTS_PER_MINUTE: "100" } });
  });
  after(() => server.stop());

  const storedMessages = (): string[] => {
    const db = new Database(path.join(server.dataDir, "database", "codedetect.db"), { readonly: true });
    try {
      return (db.prepare("SELECT message FROM reports").all() as Array<{ message: string }>).map((row) => row.message);
    } finally {
      db.close();
    }
  };
  const report = (body: string | Buffer) => exchange(server.port, [postHead("/api/report", "application/json", Buffer.byteLength(body)), body], { after: "open" });

  test("a report with control characters, terminal escapes, lone surrogates or invalid UTF-8 is refused with 400 naming the field, and nothing is stored", async () => {
    const cases: Array<[string | Buffer, RegExp]> = [
      [JSON.stringify({ email: "user@example.com", type: "bug", message: "red \u001b[31malert\u001b[0m" }), /^message contains control characters \(such as terminal escapes\)/],
      [JSON.stringify({ email: "user@example.com", type: "bug", message: "CSI \u009b2J clears the screen" }), /^message contains control characters/],
      [JSON.stringify({ email: "us\u0007er@example.com", type: "bug", message: "bell" }), /^email contains control characters/],
      ['{"email":"user@example.com","type":"bug","message":"half a pair \\ud800 here"}', /^message contains a lone surrogate/],
      [Buffer.concat([Buffer.from('{"email":"user@example.com","type":"bug","message":"bad '), Buffer.from([0xc3, 0x28]), Buffer.from(' bytes"}')]), /^Field message is not valid UTF-8/],
      [Buffer.from([0xff, 0xfe, 0x7b]), /^Request body is not valid UTF-8/],
    ];
    for (const [body, message] of cases) assertJsonError(await report(body), 400, message);
    // what stays allowed: tabs, line breaks and any Unicode text
    const text = "line one\r\n\tline two: ünïcødé ✓ 😀";
    const fine = await report(JSON.stringify({ email: "user@example.com", type: "feedback", message: text }));
    assert.equal(fine.status, 200, fine.body.toString());
    assert.deepEqual(storedMessages(), [text], "only the valid report was stored, exactly as sent");
  });

  test("an absolute-form request target is served like its path (RFC 9112 §3.2.2); two Host headers are 400 (§3.2)", async () => {
    const absolute = await exchange(server.port, ["GET http://codedetect.internal/api/health HTTP/1.1\r\nHost: codedetect.internal\r\n\r\n"], { after: "open" });
    assert.equal(absolute.status, 200, absolute.body.toString());
    assert.equal(json(absolute).status, "healthy");
    const info = await exchange(server.port, [`GET http://127.0.0.1:${server.port}/api/info?x=1 HTTP/1.1\r\nHost: other.example\r\n\r\n`], { after: "open" });
    assert.equal(info.status, 200);
    const noHost = await exchange(server.port, ["GET http://codedetect.internal/api/info HTTP/1.1\r\n\r\n"], { after: "open" });
    assertJsonError(noHost, 400, /^Missing Host header/);
    const twoHosts = await exchange(server.port, ["GET /api/info HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"], { after: "open" });
    assertJsonError(twoHosts, 400, /^More than one Host header/);
    assert.equal(twoHosts.headers.connection, "close");
  });

  test("a request whose client goes away before the answer is logged as aborted with status 499, not 200", async () => {
    // a report whose body never completes: the client resets the connection
    await exchange(server.port, [postHead("/api/report", "application/json", 500), '{"email":"a@example.org"'], { after: "reset" });
    const line = await logLine(server, (l) => l.msg === "request" && l.path === "/api/report" && l.aborted === true);
    assert.equal(line.status, 499);
    await assertServing(server);
  });

  test("CORS: Vary: Origin on every API answer, Retry-After exposed, and a preflight only for a route and a method it allows", async () => {
    const plain = await fetch(`${server.url}/api/info`);
    assert.match(plain.headers.get("vary") ?? "", /\bOrigin\b/, "an answer without Origin must not be cached for a page that sends one");
    const cors = await fetch(`${server.url}/api/info`, { headers: { origin: ORIGIN } });
    assert.equal(cors.headers.get("access-control-allow-origin"), ORIGIN);
    assert.match(cors.headers.get("vary") ?? "", /\bOrigin\b/);
    assert.match(cors.headers.get("access-control-expose-headers") ?? "", /\bRetry-After\b/);
    const preflight = (path: string, method: string) =>
      fetch(`${server.url}${path}`, { method: "OPTIONS", headers: { origin: ORIGIN, "access-control-request-method": method } });
    const ok = await preflight("/api/analyze", "POST");
    assert.equal(ok.status, 204);
    assert.equal(ok.headers.get("access-control-allow-methods"), "POST");
    const wrongMethod = await preflight("/api/analyze", "DELETE");
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get("access-control-allow-methods"), null);
    const nowhere = await preflight("/api/nowhere", "GET");
    assert.equal(nowhere.status, 404);
    assert.equal((await preflight("/api/analysis/abc", "GET")).status, 204);
  });
});

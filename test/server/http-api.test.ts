// The contract over real HTTP against the real server, real analyzers and a real SQLite file: every endpoint and rejection.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { filesUnder, startServer, upload, type RunningServer } from "../helpers/server-process.ts";

const CLEAN = '"""Arithmetic helpers."""\n\n\ndef add(first, second):\n    """Add two numbers."""\n    return first + second\n';
const RISKY = 'import os\nimport subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n';

let server: RunningServer;
before(async () => {
  server = await startServer();
});
after(async () => {
  assert.equal(await server.stop(), 0);
});

const uploadsDir = () => path.join(server.dataDir, "uploads");
const get = async (p: string, init?: RequestInit) => {
  const response = await fetch(`${server.url}${p}`, init);
  return { status: response.status, headers: response.headers, body: response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text() };
};

describe("health", () => {
  test("reports healthy with each check when database, storage and analyzers work", async () => {
    const { status, body, headers } = await get("/api/health");
    assert.equal(status, 200);
    assert.equal(body.status, "healthy");
    assert.equal(body.service, "CodeDetect API");
    assert.ok(body.version && !Number.isNaN(Date.parse(body.timestamp)));
    assert.equal(body.checks.database.ok, true);
    assert.equal(body.checks.storage.ok, true);
    assert.equal(body.checks.analyzers.ok, true);
    assert.deepEqual(Object.keys(body.checks.analyzers.tools).sort(), ["bandit", "pylint", "radon"]);
    assert.equal(headers.get("cache-control"), "no-store");
    const traced = await get("/api/health", { headers: { "x-request-id": "probe-42" } });
    assert.equal(traced.headers.get("x-request-id"), "probe-42");
  });
});

describe("analyze", () => {
  test("a clean file scores 100 and is stored under its sha256 with its result", async () => {
    const { status, body } = await upload(server.url, "adder.py", CLEAN);
    assert.equal(status, 200, JSON.stringify(body));
    const sha = createHash("sha256").update(CLEAN).digest("hex");
    assert.equal(body.file_hash, sha);
    assert.equal(body.filename, "adder.py");
    assert.equal(body.original_code, CLEAN);
    assert.equal(body.score, 100);
    assert.deepEqual(body.summary, { total_issues: 0, security_issues: 0, high_complexity_functions: 0, quality_by_type: {} });
    assert.deepEqual(Object.keys(body.analysis.complexity), ["adder.py"]);
    assert.ok(filesUnder(uploadsDir()).includes(`${sha}.py`));
    const stored = await get(`/api/analysis/${sha}`);
    assert.equal(stored.status, 200);
    assert.equal(stored.body.score, 100);
  });

  test("a risky file gets bandit and pylint findings that lower the score, shown under the client's name", async () => {
    const { status, body } = await upload(server.url, "runner.py", RISKY);
    assert.equal(status, 200, JSON.stringify(body));
    assert.ok(body.summary.security_issues >= 1);
    assert.ok(body.analysis.security_issues.some((issue: { test_id: string }) => issue.test_id === "B602"));
    assert.ok(body.analysis.quality_issues.some((issue: { symbol: string }) => issue.symbol === "unused-import"));
    assert.ok(body.score < 100);
    for (const issue of body.analysis.security_issues) assert.equal(issue.filename, "runner.py");
    for (const issue of body.analysis.quality_issues) assert.equal(issue.path, "runner.py");
  });

  test("a repeat upload under the same name is answered from the database and counted; under another name it is analysed afresh", async () => {
    const before = (await get("/api/stats")).body.total_analyses;
    const first = await upload(server.url, "again.py", "x = 1\n");
    const second = await upload(server.url, "again.py", "x = 1\n");
    const renamed = await upload(server.url, "again_renamed.py", "x = 1\n");
    assert.equal(first.body.cached, false);
    assert.equal(second.body.cached, true);
    assert.equal(second.body.score, first.body.score);
    assert.equal(renamed.body.cached, false, "pylint's findings depend on the module name: not relabelled");
    assert.equal(renamed.body.filename, "again_renamed.py");
    assert.equal((await get("/api/stats")).body.total_analyses, before + 3);
  });

  const rejections: Array<[string, () => Promise<Response>, number, RegExp]> = [
    ["no file at all", () => fetch(`${server.url}/api/analyze`, { method: "POST", body: new FormData() }), 400, /^No file provided$/],
    ["an empty file name", () => { const f = new FormData(); f.append("file", new Blob(["x=1"]), ""); return fetch(`${server.url}/api/analyze`, { method: "POST", body: f }); }, 400, /^No file selected$|^No file provided$/],
    ["a .txt file", () => { const f = new FormData(); f.append("file", new Blob(["x=1"]), "notes.txt"); return fetch(`${server.url}/api/analyze`, { method: "POST", body: f }); }, 400, /^Only \.py files allowed$/],
    ["a non-UTF-8 .py file", () => { const f = new FormData(); f.append("file", new Blob([new Uint8Array([0x78, 0x3d, 0xff, 0xfe, 0x0a])]), "latin.py"); return fetch(`${server.url}/api/analyze`, { method: "POST", body: f }); }, 400, /UTF-8/],
    ["a binary .py file", () => { const f = new FormData(); f.append("file", new Blob([new Uint8Array([0x78, 0x00, 0x79])]), "bin.py"); return fetch(`${server.url}/api/analyze`, { method: "POST", body: f }); }, 400, /NUL/],
    ["two files", () => { const f = new FormData(); f.append("file", new Blob(["a=1"]), "a.py"); f.append("file", new Blob(["b=1"]), "b.py"); return fetch(`${server.url}/api/analyze`, { method: "POST", body: f }); }, 400, /exactly one file/],
    ["the file in another field", () => { const f = new FormData(); f.append("upload", new Blob(["a=1"]), "a.py"); return fetch(`${server.url}/api/analyze`, { method: "POST", body: f }); }, 400, /field "file"/],
    ["a JSON body", () => fetch(`${server.url}/api/analyze`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }), 400, /multipart\/form-data/],
    ["a file over 5 MB", () => { const f = new FormData(); f.append("file", new Blob(["#".repeat(5 * 1024 * 1024 + 1)]), "big.py"); return fetch(`${server.url}/api/analyze`, { method: "POST", body: f }); }, 413, /too large.*5 MB/],
  ];
  for (const [what, send, status, message] of rejections) {
    test(`rejects ${what} with ${status} JSON and leaves nothing on disk`, async () => {
      const filesBefore = filesUnder(uploadsDir());
      const rowsBefore = (await get("/api/stats")).body.total_analyses;
      const response = await send();
      assert.equal(response.status, status);
      assert.match(response.headers.get("content-type") ?? "", /application\/json/);
      const body = (await response.json()) as { error: string };
      assert.match(body.error, message);
      assert.deepEqual(filesUnder(uploadsDir()), filesBefore);
      assert.equal((await get("/api/stats")).body.total_analyses, rowsBefore);
    });
  }

  test("a browser sending 8 MB gets the 413 answer, not a reset connection, and can go on using the connection", async () => {
    const form = new FormData();
    form.append("file", new Blob(["#".repeat(8 * 1024 * 1024)]), "huge.py");
    const response = await fetch(`${server.url}/api/analyze`, { method: "POST", body: form });
    assert.equal(response.status, 413);
    assert.match(((await response.json()) as { error: string }).error, /too large.*5 MB/);
    assert.notEqual(response.headers.get("connection"), "close");
    assert.deepEqual(filesUnder(uploadsDir()).filter((f) => f.startsWith(".tmp/")), []);
  });

  test("a client announcing 100-continue with an oversized body is refused before it sends it", async () => {
    const answer = await new Promise<{ status: number; body: string; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = http.request(`${server.url}/api/analyze`, {
        method: "POST",
        headers: { "content-type": "multipart/form-data; boundary=x", "content-length": String(50 * 1024 * 1024), expect: "100-continue" },
      });
      req.on("continue", () => {
        continued = true;
        req.destroy();
      });
      req.on("response", (res) => {
        let body = "";
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, continued }));
      });
      req.on("error", reject);
      req.flushHeaders();
    });
    assert.equal(answer.continued, false, "the server must not invite the 50 MB body");
    assert.equal(answer.status, 413);
    assert.match(JSON.parse(answer.body).error, /too large/);
  });

  test("two different files sent under the same name each get their own findings", async () => {
    const a = await upload(server.url, "same.py", "import os\n\nprint('a')\n");
    const b = await upload(server.url, "same.py", "print('b')\n");
    assert.ok(a.body.analysis.quality_issues.some((i: { symbol: string }) => i.symbol === "unused-import"));
    assert.ok(!b.body.analysis.quality_issues.some((i: { symbol: string }) => i.symbol === "unused-import"));
  });
});

describe("read endpoints", () => {
  test("stats has the contract's fields with a trend of at most 10, oldest first", async () => {
    const { status, body } = await get("/api/stats");
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(body).sort(), ["avg_score", "total_analyses", "total_quality_issues", "total_security_issues", "trend_data"]);
    assert.ok(body.trend_data.length <= 10 && body.trend_data.length > 0);
    assert.equal(body.trend_data[0].label, "Analysis #1");
    const times = body.trend_data.map((p: { timestamp: string }) => p.timestamp);
    assert.deepEqual(times, [...times].sort());
  });

  test("analysis by hash: 404 JSON for unknown, 400 for a malformed hash", async () => {
    assert.equal((await get(`/api/analysis/${"0".repeat(64)}`)).status, 404);
    const bad = await get("/api/analysis/..%2f..%2fetc");
    assert.equal(bad.status, 400);
    assert.match(bad.body.error, /sha256/);
  });

  test("info names the version, deployment and features", async () => {
    const { status, body } = await get("/api/info");
    assert.equal(status, 200);
    assert.ok(body.version);
    assert.ok("instance_id" in body.deployment && "image_tag" in body.deployment && "git_commit" in body.deployment);
    assert.ok(Array.isArray(body.features) && body.features.length > 0);
    assert.ok("region" in body.environment);
  });

  test("history is gone (410) for privacy", async () => {
    const { status, body } = await get("/api/history");
    assert.equal(status, 410);
    assert.match(body.error, /privacy/);
  });
});

describe("report", () => {
  const post = (body: unknown) => get("/api/report", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  test("accepts a valid report", async () => {
    const { status, body } = await post({ email: "someone@example.org", type: "bug", message: "The chart is off by one." });
    assert.equal(status, 200);
    assert.equal(body.success, true);
  });
  for (const [what, payload, message] of [
    ["a bad email", { email: "nope", type: "bug", message: "x" }, /email/],
    ["an unknown type", { email: "a@b.org", type: "rant", message: "x" }, /type/],
    ["a message over 500 characters", { email: "a@b.org", type: "feedback", message: "x".repeat(501) }, /500/],
    ["an empty message", { email: "a@b.org", type: "feedback", message: " " }, /message/],
  ] as const) {
    test(`rejects ${what} with 400 and a precise error`, async () => {
      const { status, body } = await post(payload);
      assert.equal(status, 400);
      assert.match(body.error, message);
    });
  }
  test("rejects a body that is not JSON", async () => {
    const { status, body } = await get("/api/report", { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    assert.equal(status, 400);
    assert.match(body.error, /not valid JSON/);
  });
});

describe("HTTP conduct", () => {
  test("the page is served with a content security policy and security headers", async () => {
    const { status, headers, body } = await get("/");
    assert.equal(status, 200);
    assert.match(headers.get("content-type") ?? "", /text\/html/);
    assert.match(headers.get("content-security-policy") ?? "", /script-src 'self'/);
    assert.equal(headers.get("x-content-type-options"), "nosniff");
    assert.equal(headers.get("x-frame-options"), "DENY");
    assert.match(String(body), /<html/i);
  });

  test("every API answer carries a request id, made up when the client gave none", async () => {
    const { headers } = await get("/api/stats");
    assert.match(headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  });

  test("an X-Request-Id given by the client is echoed; no wildcard CORS", async () => {
    const { headers } = await get("/api/stats", { headers: { "x-request-id": "trace-abc.123", origin: "https://evil.example" } });
    assert.equal(headers.get("x-request-id"), "trace-abc.123");
    assert.equal(headers.get("access-control-allow-origin"), null);
  });

  test("unknown paths are 404 JSON and wrong methods 405 with Allow", async () => {
    const missing = await get("/api/nothing");
    assert.equal(missing.status, 404);
    assert.match(missing.body.error, /Not found/);
    const wrong = await get("/api/analyze");
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "POST");
  });

  test("request logs are JSON lines with the request id and never the uploaded code", async () => {
    const marker = "SECRET_MARKER_" + Date.now();
    await upload(server.url, "secret.py", `token = "${marker}"\n`);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const requestLines = server.lines.filter((line) => line.includes('"msg":"request"')).map((line) => JSON.parse(line));
    assert.ok(requestLines.some((line) => line.path === "/api/analyze" && typeof line.req_id === "string" && line.status === 200));
    assert.ok(!server.lines.some((line) => line.includes(marker)), "the uploaded code appeared in the logs");
  });
});

// Hostile uploads and requests at the application level against the real server over raw sockets: file names and
// sizes, paths and methods, and /api/info as the earlier web page reads it.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../../server/config.ts";
import { startServer, type RunningServer } from "../helpers/server-process.ts";
import { assertJsonError, MiB, uploadRequest } from "./adversarial-steps.ts";
import { exchange, json, postHead } from "./raw-http.ts";

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
    assert.deepEqual(body.summary, { total_issues: 0, security_issues: 0, high_complexity_functions: 0, quality_by_type: {} });
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

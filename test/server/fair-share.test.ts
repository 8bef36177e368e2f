// One client cannot lock out the others: per-client shares of the analyzers and of /api/report, the client as the peer or as a trusted proxy names it, timed-out content refused at once.
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { stdlibSource } from "../helpers/python-sources.ts";
import { heldUpload, startRequest, uploadFrom, type RawAnswer } from "../helpers/raw-client.ts";
import { startServer } from "../helpers/server-process.ts";

// two clients without a proxy: every address in 127.0.0.0/8 reaches a server listening on 127.0.0.1
const FLOODER = "127.0.0.1";
const OTHER = "127.0.0.2";
const slow = stdlibSource("tarfile"); // seconds of pylint

test("one client flooding slow files gets 429 beyond its share while another client is served with 200", async () => {
  // two lanes and a queue of four: each client may have 1 running + 1 waiting (the default share)
  const server = await startServer({ env: { ANALYZER_WORKERS: "2", ANALYZER_QUEUE: "4" } });
  try {
    const flood = Array.from({ length: 8 }, (_, index) => uploadFrom(server.url, `slow_${index}.py`, `${slow}\n# ${index}\n`, { from: FLOODER }));
    let floodAccepted = 0;
    for (const answer of flood) void answer.then((a) => (floodAccepted += a.status === 200 ? 1 : 0));
    // the refusals come at once, while the flooder's accepted analyses run
    await waitForCount(flood, (a) => a.status === 429, 6);

    const other = await uploadFrom(server.url, "other.py", '"""Another user."""\nVALUE = 1\n', { from: OTHER });
    assert.equal(other.status, 200, JSON.stringify(other.body));
    assert.equal(other.body.filename, "other.py");
    assert.equal(floodAccepted, 0, "the other client was answered while the flooder's analyses were still running");

    const answers = await Promise.all(flood);
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [200, 200, 429, 429, 429, 429, 429, 429]);
    for (const refused of answers.filter((a) => a.status === 429)) {
      assert.match(refused.body.error, /Too many analyses from your address at once \(at most 2\)/);
      assert.ok(Number(refused.headers["retry-after"]) > 0);
    }
  } finally {
    await server.stop();
  }
});

/** Resolves once `count` of the answers satisfy `done` (the others may still be pending). */
function waitForCount(answers: Promise<RawAnswer>[], done: (answer: RawAnswer) => boolean, count: number): Promise<RawAnswer[]> {
  return new Promise((resolve) => {
    const matched: RawAnswer[] = [];
    for (const answer of answers) {
      void answer.then((a) => {
        if (done(a)) matched.push(a);
        if (matched.length === count) resolve(matched);
      });
    }
  });
}

test("X-Forwarded-For names the client only when the peer is a trusted proxy; the right-most untrusted address counts", async () => {
  // one analysis in flight per client: a held upload occupies its client's share until its body is sent
  const trusted = await startServer({ env: { TRUSTED_PROXIES: "127.0.0.1/32, 10.0.0.0/8", CLIENT_MAX_ANALYSES: "1" } });
  const plain = await startServer({ env: { CLIENT_MAX_ANALYSES: "1" } });
  const small = '"""Small."""\nVALUE = 1\n';
  try {
    const held = heldUpload(trusted.url, "held.py", small, { from: FLOODER, headers: { "x-forwarded-for": "203.0.113.5" } });
    await waitForInFlight(trusted.url, FLOODER, { "x-forwarded-for": "203.0.113.5" });
    const through = (xff: string) => uploadFrom(trusted.url, "probe.py", small, { from: FLOODER, headers: { "x-forwarded-for": xff } });
    assert.equal((await through("203.0.113.9")).status, 200, "another address behind the proxy is another client");
    assert.equal((await through("198.51.100.1, 203.0.113.5")).status, 429, "the right-most untrusted address is the client; what it sent left of it does not count");
    assert.equal((await through("203.0.113.5, 10.1.2.3")).status, 429, "trusted hops (a second proxy) are skipped");
    assert.equal((await through("203.0.113.5, 198.51.100.1")).status, 200, "a client cannot pose as another by prepending addresses");
    assert.equal((await through("not-an-address, 203.0.113.5")).status, 429);

    // a peer that is not a trusted proxy is the client, whatever it claims
    const untrusted = heldUpload(trusted.url, "held.py", small, { from: OTHER, headers: { "x-forwarded-for": "192.0.2.1" } });
    await waitForInFlight(trusted.url, OTHER, { "x-forwarded-for": "192.0.2.2" });
    const spoofed = await uploadFrom(trusted.url, "probe.py", small, { from: OTHER, headers: { "x-forwarded-for": "192.0.2.3" } });
    assert.equal(spoofed.status, 429);

    // without TRUSTED_PROXIES the header is ignored altogether
    const plainHeld = heldUpload(plain.url, "held.py", small, { from: FLOODER, headers: { "x-forwarded-for": "203.0.113.5" } });
    await waitForInFlight(plain.url, FLOODER, { "x-forwarded-for": "203.0.113.77" });
    assert.equal((await uploadFrom(plain.url, "probe.py", small, { from: FLOODER, headers: { "x-forwarded-for": "203.0.113.9" } })).status, 429);
    assert.equal((await uploadFrom(plain.url, "probe.py", small, { from: OTHER })).status, 200);

    for (const request of [held, untrusted, plainHeld]) assert.equal((await request.finish()).status, 200, "the held uploads complete normally");
  } finally {
    await Promise.all([trusted.stop(), plain.stop()]);
  }
});

/** Waits until the server counts a held upload for this client: a probe from it is refused with 429 (and its body discarded). */
async function waitForInFlight(url: string, from: string, headers: Record<string, string>): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const answer = await startRequest(url, "/api/analyze", { from, headers: { ...headers, "content-type": "multipart/form-data; boundary=x" }, body: "--x--\r\n" }).answer;
    if (answer.status === 429) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("the held upload was never counted as in flight");
}

test("TRUSTED_PROXIES that is not a list of CIDRs stops the server with exit 2 and one line naming it", async () => {
  for (const bad of ["10.0.0.0/33", "999.1.1.1/8", "10.0.0.0/8,,", "example.com"]) {
    await assert.rejects(startServer({ env: { TRUSTED_PROXIES: bad } }), (error: Error) => {
      assert.match(error.message, /exited with 2 before listening/);
      assert.match(error.message, /codedetect: configuration error: TRUSTED_PROXIES has /);
      return true;
    });
  }
});

test("content that ran into the time limit is refused at once on re-upload, under any name, with a clear error", async () => {
  const server = await startServer({ env: { ANALYZER_TIMEOUT_SECONDS: "1" } });
  try {
    const first = await uploadFrom(server.url, "slow.py", slow);
    assert.equal(first.status, 422, JSON.stringify(first.body));
    assert.match(first.body.error, /^Analysis stopped: pylint ran into the 1 s time limit on this file/);
    const again = await uploadFrom(server.url, "renamed.py", slow);
    assert.equal(again.status, 422);
    assert.match(again.body.error, /ran into the time limit a short while ago; it is not analysed again for \d+ s/);
    assert.ok(Number(again.headers["retry-after"]) > 0);
    const analyses = server.lines.filter((line) => line.includes("analysis ran into the time limit")).length;
    assert.equal(analyses, 1, "the re-upload did not run the tools again");
    assert.equal((await uploadFrom(server.url, "fine.py", '"""Fine."""\n')).status, 200, "other content is analysed as usual");
  } finally {
    await server.stop();
  }
});

test("/api/report: beyond its rate a client gets 429 with Retry-After and nothing is stored; another client is served", async () => {
  const server = await startServer({ env: { CLIENT_REPORTS_PER_MINUTE: "3" } });
  const report = (from: string, n: number) =>
    startRequest(server.url, "/api/report", {
      from,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "user@example.com", type: "feedback", message: `report ${n}` }),
    }).answer;
  try {
    const mine = [];
    for (let n = 0; n < 5; n++) mine.push(await report(FLOODER, n));
    assert.deepEqual(mine.map((a) => a.status), [200, 200, 200, 429, 429]);
    assert.match(mine[3]!.body.error, /Too many reports from your address; try again in \d+ s/);
    assert.ok(Number(mine[3]!.headers["retry-after"]) >= 1);
    assert.equal((await report(OTHER, 9)).status, 200);
    const db = new Database(path.join(server.dataDir, "database", "codedetect.db"), { readonly: true });
    try {
      const rows = db.prepare("SELECT message FROM reports ORDER BY message").all() as Array<{ message: string }>;
      assert.deepEqual(rows.map((r) => r.message), ["report 0", "report 1", "report 2", "report 9"]);
    } finally {
      db.close();
    }
  } finally {
    await server.stop();
  }
});

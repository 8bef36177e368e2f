// Issue 14, findings 1-3 against the real server: held uploads from many loopback addresses, pipelined reads never
// read, and a 5 MiB file of control characters (its row, its answers, health while it is re-sent). Memory is judged
// by generous bounds (the budget + 100 MiB, where the unbounded server grew by gigabytes), never by timings.
import assert from "node:assert/strict";
import http from "node:http";
import zlib from "node:zlib";
import { after, before, describe, test } from "node:test";
import Database from "better-sqlite3";
import { MALLOC_ENV } from "../../server/allocator.ts";
import { databaseFile } from "../../server/paths.ts";
import {
  controlCharacterFile,
  holdUploads,
  loopback,
  MiB,
  multipartRequest,
  pipelineUnread,
  probeHealth,
  readTrickle,
  rssBytes,
  sampleRss,
  sendCounting,
  statusOf,
} from "../helpers/hostile-load.ts";
import { startServer, type RunningServer } from "../helpers/server-process.ts";

const BUDGET_MB = 64;
/** SEND_MIN_BYTES_PER_SECOND here: the 31.5 MB answer below must be taken within 2 s + ~8 s. */
const MIN_RATE = 4 * MiB;
const SLACK = 100 * MiB;

let server: RunningServer;
let pid: number;
before(async () => {
  server = await startServer({ env: { REQUEST_MEMORY_MB: String(BUDGET_MB), SEND_TIMEOUT_SECONDS: "2", SEND_MIN_BYTES_PER_SECOND: String(MIN_RATE), MAX_PIPELINED_REQUESTS: "8", CLIENT_MAX_READS: "2" } });
  pid = server.child.pid!;
});
after(async () => {
  assert.equal(await server.stop(), 0, "the server must still be running and stop cleanly");
});

const healthy = async () => (await fetch(`${server.url}/api/health`)).status;

/** Waits (up to 45 s: the uploads let through are still being analysed on a busy machine) for the server's RSS to come back near its baseline. */
async function memoryReturns(baseline: number): Promise<number> {
  const deadline = Date.now() + 45_000;
  let rss = rssBytes(pid);
  while (rss > baseline + SLACK && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    rss = rssBytes(pid);
  }
  return rss;
}

test("120 uploads of 5 MiB held open from 40 addresses: memory stays within the budget, the rest get 503 and others are served", async (t) => {
  // memory returns because the server starts as the image starts it (server/allocator.ts); with glibc's own sliding
  // threshold the freed bodies stay in a fragmented heap (+120 MiB for good here)
  const listening = JSON.parse(server.lines.find((line) => line.includes('"msg":"listening"'))!) as { malloc_mmap_threshold: number | null };
  assert.equal(listening.malloc_mmap_threshold, Number(MALLOC_ENV.MALLOC_MMAP_THRESHOLD_), "the server says it starts as the image does");
  const baseline = rssBytes(pid);
  const memory = sampleRss(pid);
  const held = holdUploads(server.port, 120, 40, Buffer.alloc(5 * MiB - 200, "x"));
  await held.settled;
  await new Promise((resolve) => setTimeout(resolve, 1000)); // what the kernel still held reaches the server
  assert.equal(await healthy(), 200, "health is answered while the uploads are held");
  const peak = memory.stop();
  held.release();
  const refused = held.answers.filter((answer) => answer.status === 503);
  t.diagnostic(`peak growth ${Math.round((peak - baseline) / MiB)} MiB, ${refused.length} of 120 refused`);
  assert.ok(peak - baseline < BUDGET_MB * MiB + SLACK, `memory grew by ${Math.round((peak - baseline) / MiB)} MiB under held uploads`);
  assert.ok(refused.length >= 100, `most uploads are refused before their body is read (${refused.length} of 120 answered 503)`);
  for (const answer of refused) {
    assert.equal(answer.headers["retry-after"], "5");
    assert.equal(answer.headers.connection, "close");
  }
  const settledRss = await memoryReturns(baseline);
  assert.ok(settledRss <= baseline + SLACK, `memory came back to ${Math.round(settledRss / MiB)} MiB (baseline ${Math.round(baseline / MiB)} MiB)`);
});

describe("a 5 MiB file of control characters inside a comment", () => {
  const file = controlCharacterFile(5 * MiB);
  let hash = "";

  before(async () => {
    const { head, body } = multipartRequest("controls.py", file);
    const answer = await sendCounting(server.port, [head, ...body], loopback(300));
    assert.equal(answer.status, 200, "the file is valid Python and is analysed");
    const db = new Database(databaseFile(server.dataDir), { readonly: true });
    try {
      hash = (db.prepare("SELECT file_hash FROM results").pluck().get() as string | undefined) ?? "";
    } finally {
      db.close();
    }
    assert.match(hash, /^[0-9a-f]{64}$/);
  });

  test("its stored row holds the findings, not the code: a few kilobytes, not 31.5 MB", () => {
    const db = new Database(databaseFile(server.dataDir), { readonly: true });
    try {
      const size = db.prepare("SELECT length(result_json) FROM results WHERE file_hash = ?").pluck().get(hash) as number;
      assert.ok(size < 64 * 1024, `the row is ${size} bytes`);
    } finally {
      db.close();
    }
  });

  test("reading it back gives the code exactly, from the stored upload", async () => {
    const response = await fetch(`${server.url}/api/analysis/${hash}`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as { original_code: string; file_hash: string; score: number };
    assert.equal(body.file_hash, hash);
    assert.equal(body.original_code, file.toString("latin1"));
    assert.equal(typeof body.score, "number");
  });

  test("a client that takes gzip gets the answer compressed as it is written: smaller than the file, the code intact", async () => {
    const { encoding, raw } = await new Promise<{ encoding: string | undefined; raw: Buffer }>((resolve, reject) => {
      http.get({ port: server.port, host: "127.0.0.1", path: `/api/analysis/${hash}`, headers: { "accept-encoding": "gzip" } }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ encoding: res.headers["content-encoding"], raw: Buffer.concat(chunks) }));
      }).on("error", reject);
    });
    assert.equal(encoding, "gzip");
    assert.ok(raw.length < file.length, `${raw.length} bytes on the wire for a ${file.length}-byte file`);
    assert.equal((JSON.parse(zlib.gunzipSync(raw).toString("utf8")) as { original_code: string }).original_code, file.toString("latin1"));
  });

  test("re-sent from two addresses again and again, it is answered from the database and health stays within the load balancer's 5 s", async (t) => {
    const health = probeHealth(server.port);
    const resend = async (from: string) => {
      for (let round = 0; round < 4; round++) {
        const { head, body } = multipartRequest("controls.py", file);
        const answer = await sendCounting(server.port, [head, ...body], from);
        assert.equal(answer.status, 200);
        assert.equal(answer.bodyBytes, Number(answer.headers["content-length"]));
      }
    };
    await Promise.all([resend(loopback(301)), resend(loopback(302))]);
    const { maxMs, statuses } = await health.stop();
    t.diagnostic(`slowest health check ${Math.round(maxMs)} ms of ${statuses.length}`);
    assert.ok(statuses.length > 0 && statuses.every((status) => status === 200), `health answered ${statuses.join(", ")}`);
    assert.ok(maxMs < 5000, `the slowest health check took ${Math.round(maxMs)} ms`);
  });

  test("pipelined reads never read: a connection over the cap is closed, one under it is cut by the send timeout, memory stays bounded", async (t) => {
    const baseline = rssBytes(pid);
    const memory = sampleRss(pid);
    const under = pipelineUnread(server.port, `/api/analysis/${hash}`, 6, loopback(310), 30_000);
    const over = pipelineUnread(server.port, `/api/analysis/${hash}`, 20, loopback(311), 30_000);
    const [underClosed, overClosed] = await Promise.all([under.closed, over.closed]);
    const peak = memory.stop();
    t.diagnostic(`peak growth ${Math.round((peak - baseline) / MiB)} MiB`);
    assert.ok(overClosed, "a connection with 20 requests pipelined behind an unread answer is closed");
    const overLines = server.lines.filter((line) => line.includes("too many pipelined requests on one connection"));
    assert.equal(overLines.length, 1, "one log line for the connection, not one for each request pipelined past the cap");
    assert.ok(underClosed, "a connection whose answer is never read is closed after the send timeout");
    assert.ok(peak - baseline < BUDGET_MB * MiB + SLACK, `memory grew by ${Math.round((peak - baseline) / MiB)} MiB under unread pipelined reads`);
    assert.equal(await healthy(), 200);
    const settledRss = await memoryReturns(baseline);
    assert.ok(settledRss <= baseline + SLACK, `memory came back to ${Math.round(settledRss / MiB)} MiB`);
  });

  test("a client reading a trickle, just often enough never to stall, is cut at the answer's deadline (SEND_MIN_BYTES_PER_SECOND), not served for minutes", async () => {
    // a quarter of the minimum rate: reading the whole answer would take ~30 s, four times the deadline
    const answer = await readTrickle(server.port, `/api/analysis/${hash}`, loopback(330), MIN_RATE / 4, 60_000);
    assert.ok(answer.contentLength > 30 * 1000 * 1000, `the answer is the 31.5 MB JSON (${answer.contentLength} bytes)`);
    assert.equal(answer.whole, false, `the connection was cut before the body was read: ${answer.received} of ${answer.contentLength} bytes`);
    assert.ok(answer.received > 0, "the client was served while it kept the pace");
    assert.equal(await healthy(), 200);
  });

  test("reads are fair per client: one holding CLIENT_MAX_READS unread answers gets 429 for more, another client is served", async () => {
    const read = `GET /api/analysis/${hash} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
    const held = Array.from({ length: 2 }, () => pipelineUnread(server.port, `/api/analysis/${hash}`, 1, loopback(320), 30_000));
    // the two are counted once the server has taken them: asked until then (each answer is cut after its head)
    let status = 0;
    try {
      for (let attempt = 0; attempt < 50 && status !== 429; attempt++) status = await statusOf(server.port, read, loopback(320));
      assert.equal(status, 429, "a third read at once from the same address is refused");
      assert.equal(await statusOf(server.port, read, loopback(321)), 200, "another address is served meanwhile");
    } finally {
      for (const pipe of held) pipe.abort();
    }
  });
});

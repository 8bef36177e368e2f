// Issue 14, items 4-7: analyzers under hostile load. A huge literal meets a hard memory ceiling (422 naming it) while
// other clients are served; a client's near-duplicates of a costly file are refused; an innocent file cut off while
// the machine was busy is not blamed; a retired analyzer whose replacement fails is retried until it starts; spawn()
// out of file descriptors does not end the server, which recovers once descriptors return.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { chmod, writeFile } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { peakWorkerRssMb, waitFor, workerProcesses } from "../analyzers/helpers.ts";
import { uploadFrom } from "../helpers/raw-client.ts";
import { startServer, tempDir, type RunningServer } from "../helpers/server-process.ts";
import { logLine } from "./adversarial-steps.ts";

const TRIVIAL = '"""Trivial."""\nVALUE = 1\n';
/** A 4 MB list literal: pylint alone took 1.96 GB on it before the ceiling. */
const hugeLiteral = (item: string) => `"""Huge."""\nDATA = [${`${item}, `.repeat(Math.floor((4 << 20) / (item.length + 2)))}]\n`;

async function health(url: string): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}/api/health`);
  return { status: response.status, body: await response.json() };
}

describe("memory ceiling and near-duplicates (one server, two lanes)", () => {
  const CEILING_MB = 400;
  let server: RunningServer;
  before(async () => {
    server = await startServer({
      env: { ANALYZER_WORKERS: "2", ANALYZER_MEMORY_MB: String(CEILING_MB), ANALYZER_RECYCLE_MB: "300", ANALYZER_TIMEOUT_SECONDS: "55", HEALTH_INTERVAL_SECONDS: "1" },
    });
  });
  after(() => server.stop());

  test("a 4 MB literal stays under the analyzer's memory ceiling and is a 422 naming it, while another client is served", async () => {
    const huge = uploadFrom(server.url, "huge.py", hugeLiteral("1"), { from: "127.0.0.2" });
    const other = await uploadFrom(server.url, "other.py", TRIVIAL, { from: "127.0.0.3" });
    assert.equal(other.status, 200, JSON.stringify(other.body));
    const { result, peakMb } = await peakWorkerRssMb(server.child.pid!, huge);
    assert.equal(result.status, 422, JSON.stringify(result.body));
    assert.match(result.body.error, /ran into the 400 MB memory limit on this file/);
    assert.ok(peakMb < CEILING_MB, `an analyzer reached ${Math.round(peakMb)} MB resident, over its ${CEILING_MB} MB ceiling`);
    // the worker reports its largest address space (which bounds its resident memory) when it stops at the ceiling
    const line = await logLine(server, (l) => l.msg === "analyzer ran into its memory ceiling; replacing it");
    assert.ok(Number(line.peak_mb) <= CEILING_MB, `peak ${String(line.peak_mb)} MB`);
    assert.equal((await health(server.url)).status, 200);
  });

  test("the same client's near-duplicate is refused at once, another costly file waits its penalty, and another client is served", async () => {
    const withComment = await uploadFrom(server.url, "huge2.py", `${hugeLiteral("1")}# one added comment\n`, { from: "127.0.0.2" });
    assert.equal(withComment.status, 422, JSON.stringify(withComment.body));
    assert.match(withComment.body.error, /differing from it only in comments and blank lines\) ran into the memory limit a short while ago/);
    // another costly file (not a near-duplicate) is analysed: the client's second strike
    const second = await uploadFrom(server.url, "huge3.py", hugeLiteral("22"), { from: "127.0.0.2" });
    assert.equal(second.status, 422, JSON.stringify(second.body));
    const ceilingHits = server.lines.filter((l) => l.includes("analyzer ran into its memory ceiling")).length;
    // ... after which the client waits before any new analysis, while another client is served
    const third = await uploadFrom(server.url, "huge4.py", hugeLiteral("333"), { from: "127.0.0.2" });
    assert.equal(third.status, 429, JSON.stringify(third.body));
    assert.match(third.body.error, /^2 of your recent files ran into the analyzers' time or memory limit; your next new analysis is accepted in \d+ s/);
    const wait = Number(third.headers["retry-after"]);
    assert.ok(wait > 0 && wait <= 55, `Retry-After ${wait}`);
    const served = await uploadFrom(server.url, "served.py", TRIVIAL.replace("1", "2"), { from: "127.0.0.3" });
    assert.equal(served.status, 200);
    assert.equal(server.lines.filter((l) => l.includes("analyzer ran into its memory ceiling")).length, ceilingHits, "the refused files reached no analyzer");
  });
});

describe("blame and recovery (one server, one lane, an interpreter wrapper that injects start failures)", () => {
  let server: RunningServer;
  let failuresFile: string;
  before(async () => {
    const dir = tempDir("codedetect-flaky-python-");
    failuresFile = path.join(dir, "failures-left");
    const wrapper = path.join(dir, "python3");
    // FAULT INJECTION: while failures-left holds a number above 0, each start of the interpreter fails (and counts down)
    await writeFile(wrapper, `#!/bin/sh\nf='${failuresFile}'\nn=$(cat "$f" 2>/dev/null || echo 0)\nif [ "$n" -gt 0 ]; then echo $((n - 1)) > "$f"; echo "injected start failure" >&2; exit 1; fi\nexec /usr/bin/python3 "$@"\n`);
    await chmod(wrapper, 0o755);
    server = await startServer({ env: {
        ANALYZER_WORKERS: "1",
        // 5 s of processor time, and a wall-clock cap of what is left of 55 s after the longest wait: 8 s
        ANALYZER_TIMEOUT_SECONDS: "5",
        ANALYZER_MAX_WAIT_SECONDS: "47",
        ANALYZER_PYTHON: wrapper,
        HEALTH_INTERVAL_SECONDS: "1",
      },
    });
  });
  after(() => server.stop());

  test("an innocent file cut off while its analyzer got no processor is a 503, not remembered; the replacement that fails twice is retried and health recovers without an upload", async () => {
    const pylint = (await workerProcesses(server.child.pid!)).find((p) => p.cmdline.includes("--tool pylint"))!;
    // CONTENTION, made certain: the pylint process gets no processor at all until the wall-clock cap (SIGSTOP), as
    // when other clients' heavy files keep the machine busy
    process.kill(pylint.pid, "SIGSTOP");
    await writeFile(failuresFile, "2"); // its replacement fails to start twice
    const cut = await uploadFrom(server.url, "innocent.py", TRIVIAL, { from: "127.0.0.4" });
    assert.equal(cut.status, 503, JSON.stringify(cut.body));
    assert.match(cut.body.error, /^Server busy: the analysis was cut off at the time limit before it had its share of the processor.*the file is not blamed/);
    assert.ok(Number(cut.headers["retry-after"]) > 0);

    const restarting = await pollHealth(server.url, (h) => h.body.checks.analyzers.tools.pylint.state === "restarting");
    assert.equal(restarting.status, 503);
    assert.match(restarting.body.checks.analyzers.tools.pylint.detail, /1 of 1 pylint processes being replaced: attempt \d to replace it failed .*; next attempt in \d/);
    const recovered = await pollHealth(server.url, (h) => h.status === 200);
    assert.equal(recovered.body.checks.analyzers.tools.pylint.ok, true);
    assert.equal(readFileSync(failuresFile, "utf8").trim(), "0", "both injected failures happened");

    const again = await uploadFrom(server.url, "innocent.py", TRIVIAL, { from: "127.0.0.4" });
    assert.equal(again.status, 200, `the innocent file is analysed on the idle server: ${JSON.stringify(again.body)}`);
  });
});

/** Health as it comes, until `done` (connection errors while the server is busy count as not yet). */
async function pollHealth(url: string, done: (h: { status: number; body: any }) => boolean, timeoutMs = 45_000): Promise<{ status: number; body: any }> {
  let last: { status: number; body: any } | null = null;
  await waitFor(async () => {
    last = await health(url).catch(() => null);
    return last !== null && done(last);
  }, timeoutMs);
  return last!;
}

describe("out of file descriptors while an analyzer is replaced (a server started under prlimit --nofile)", () => {
  const held: net.Socket[] = [];
  let server: RunningServer;
  before(async () => {
    server = await startServer({ prefix: ["prlimit", "--nofile=96:96"], env: { ANALYZER_WORKERS: "1", HEALTH_INTERVAL_SECONDS: "1" } });
  });
  after(async () => {
    for (const socket of held) socket.destroy();
    await server.stop();
  });

  /** A keep-alive connection that made one request and stays open: one descriptor held in the server. Null once refused. */
  const holdConnection = (): Promise<net.Socket | null> =>
    new Promise((resolve) => {
      const socket = net.connect(server.port, "127.0.0.1");
      socket.once("error", () => resolve(null));
      socket.once("close", () => resolve(null));
      socket.once("data", () => resolve(socket));
      socket.write("GET /api/info HTTP/1.1\r\nHost: test\r\n\r\n");
    });

  test("spawn() under EMFILE does not end the server; it says so in the log and recovers once descriptors return", async () => {
    for (let attempt = 0; attempt < 200; attempt++) {
      const socket = await holdConnection();
      if (!socket) break; // reset without an answer: the server is out of descriptors
      held.push(socket);
    }
    assert.ok(held.length < 200, "the server ran out of descriptors");
    await logLine(server, (l) => typeof l.msg === "string" && l.msg.startsWith("out of file descriptors"));
    const pylint = (await workerProcesses(server.child.pid!)).find((p) => p.cmdline.includes("--tool pylint"))!;
    process.kill(pylint.pid, "SIGKILL"); // its replacement is spawned while the server has no descriptor to spare
    const failed = await logLine(server, (l) => l.msg === "analyzer worker could not be replaced; retrying");
    assert.match(String(failed.err), /cannot be started \(spawn .* EMFILE: the server is out of file descriptors\)/);
    assert.equal(server.child.exitCode, null, `the server ended:\n${server.lines.slice(-10).join("\n")}`);

    for (const socket of held.splice(0)) socket.destroy();
    const recovered = await pollHealth(server.url, (h) => h.status === 200);
    assert.equal(recovered.body.checks.analyzers.ok, true);
    assert.equal((await uploadFrom(server.url, "after.py", TRIVIAL)).status, 200);
    assert.equal(server.child.exitCode, null);
  });
});

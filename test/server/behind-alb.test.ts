// Issue 13 items 2 and 3 on the real server behind the ALB twin (its own address as the peer, the client in X-Forwarded-For, idle connections reused up to its idle timeout):
// the server's keep-alive outlives the balancer's idle timeout from one shared figure (0 × 502), and two clients get two fair shares only when TRUSTED_PROXIES names the balancer's subnet.
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { LOAD_BALANCER_IDLE_TIMEOUT_SECONDS, serverTimeouts } from "../../server/http/keep-alive.ts";
import { heldUpload, startRequest, uploadFrom } from "../helpers/raw-client.ts";
import { ROOT, startServer, type RunningServer } from "../helpers/server-process.ts";
import { startAlb, type Alb } from "../twin/alb.ts";
import { idleGaps } from "../twin/idle-gaps.ts";

const FIRST = "127.0.0.5";
const SECOND = "127.0.0.6";
const BALANCER = "127.0.0.21";
const small = '"""Small."""\nVALUE = 1\n';

function listeningLine(server: RunningServer): { keep_alive_seconds: number } {
  return JSON.parse(server.lines.find((line) => line.includes('"msg":"listening"'))!);
}

/** Waits until the server counts the client's held upload: a probe from it through the balancer is refused with 429. */
async function heldFor(url: string, from: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const answer = await startRequest(url, "/api/analyze", { from, headers: { "content-type": "multipart/form-data; boundary=x" }, body: "--x--\r\n" }).answer;
    if (answer.status === 429) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`the held upload of ${from} was never counted as in flight`);
}

describe("the server behind the ALB twin", () => {
  // fixed: the balancer's idle timeout given (scaled to 2 s) and its "subnet" 127.0.0.16/28 (holding 127.0.0.21, not the clients) trusted
  let fixed: RunningServer;
  // as the fleet ran on AWS before the fix: defaults, no TRUSTED_PROXIES
  let plain: RunningServer;
  let toFixed: Alb;
  let toPlain: Alb;
  before(async () => {
    const env = { CLIENT_MAX_ANALYSES: "1", ANALYZER_WORKERS: "1" };
    [fixed, plain] = await Promise.all([startServer({ env: { ...env, LB_IDLE_TIMEOUT_SECONDS: "2", TRUSTED_PROXIES: "127.0.0.16/28" } }), startServer({ env })]);
    toFixed = await startAlb({ idleTimeoutSeconds: 2, localAddress: BALANCER });
    toPlain = await startAlb({ idleTimeoutSeconds: 60, localAddress: BALANCER });
    toFixed.setTargets([{ id: "i-fixed", host: "127.0.0.1", port: fixed.port }]);
    toPlain.setTargets([{ id: "i-plain", host: "127.0.0.1", port: plain.port }]);
  });
  after(async () => {
    await Promise.all([toFixed?.close(), toPlain?.close()]);
    await Promise.all([fixed?.stop(), plain?.stop()]);
  });

  it("keeps idle connections longer than the idle timeout the committed template gives the load balancer (one figure for both)", () => {
    const template = parse(fs.readFileSync(path.join(ROOT, "cloudformation/codedetect.yaml"), "utf8"));
    const attributes: { Key: string; Value: string }[] = template.Resources.LoadBalancer.Properties.LoadBalancerAttributes;
    const idle = Number(attributes.find((attribute) => attribute.Key === "idle_timeout.timeout_seconds")!.Value);
    assert.equal(idle, LOAD_BALANCER_IDLE_TIMEOUT_SECONDS);
    assert.ok(listeningLine(plain).keep_alive_seconds > idle, `the server keeps ${listeningLine(plain).keep_alive_seconds} s, the balancer ${idle} s`);
  });

  it("follows LB_IDLE_TIMEOUT_SECONDS when an operator changes the balancer's timeout", () => {
    assert.equal(listeningLine(fixed).keep_alive_seconds, serverTimeouts(2).keepAliveTimeout / 1000);
    assert.ok(listeningLine(fixed).keep_alive_seconds > 2);
  });

  it("connections idle up to the balancer's timeout are reused and never answered 502", async () => {
    const { statuses, burst } = await idleGaps(toFixed.url, { connections: 30, fromMs: 1000, toMs: 1990, path: "/api/health" });
    assert.deepEqual(burst, { 200: 30 });
    assert.deepEqual(statuses, { 200: 30 });
    const stats = toFixed.stats();
    assert.ok(stats.reused > 0 && stats.longestReusedIdleMs >= 1000, JSON.stringify(stats));
    assert.deepEqual(stats.elb, {});
  });

  it("relies on Node counting headersTimeout per request: a keep-alive connection idle past it is still served (Node's behaviour, checked here)", async () => {
    const server = http.createServer({ headersTimeout: 300, requestTimeout: 400, keepAliveTimeout: 2000, connectionsCheckingInterval: 50 }, (_req, res) => res.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const socket = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
    let received = "";
    socket.on("data", (chunk) => (received += chunk));
    socket.write("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n");
    await new Promise((resolve) => setTimeout(resolve, 700)); // idle past headersTimeout and requestTimeout
    socket.write("GET /2 HTTP/1.1\r\nHost: x\r\n\r\n");
    while ((received.match(/HTTP\/1\.1 /g) ?? []).length < 2 && !socket.destroyed) await new Promise((resolve) => setTimeout(resolve, 10));
    socket.destroy();
    server.close();
    assert.deepEqual(received.match(/HTTP\/1\.1 \d+/g), ["HTTP/1.1 200", "HTTP/1.1 200"]);
  });

  it("TRUSTED_PROXIES = the balancer's subnet: a second client is served while the first holds its share", async () => {
    const held = heldUpload(toFixed.url, "held.py", small, { from: FIRST });
    await heldFor(toFixed.url, FIRST);
    const second = await uploadFrom(toFixed.url, "second.py", small, { from: SECOND });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.equal((await held.finish()).status, 200);
  });

  it("without it (the fleet on AWS before the fix) every client is the balancer: the second client gets the first one's 429", async () => {
    const held = heldUpload(toPlain.url, "held.py", small, { from: FIRST });
    await heldFor(toPlain.url, FIRST);
    const second = await uploadFrom(toPlain.url, "second.py", small, { from: SECOND });
    assert.equal(second.status, 429, JSON.stringify(second.body));
    assert.match(second.body.error, /Too many analyses from your address/);
    assert.equal((await held.finish()).status, 200);
  });
});

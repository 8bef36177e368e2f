// Item 2 of issue 13: the server keeps idle connections longer than the load balancer, from one shared figure, so a balancer reusing them never races the server's close (0 × 502).
import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { LOAD_BALANCER_IDLE_TIMEOUT_SECONDS, serverTimeouts } from "../../server/http/keep-alive.ts";
import { ROOT, startServer, type RunningServer } from "../helpers/server-process.ts";
import { startAlb, type Alb } from "../twin/alb.ts";
import { idleGaps } from "../twin/idle-gaps.ts";

function listeningLine(server: RunningServer): { keep_alive_seconds: number } {
  return JSON.parse(server.lines.find((line) => line.includes('"msg":"listening"'))!);
}

describe("the server's keep-alive against the load balancer's idle timeout", () => {
  let byDefault: RunningServer;
  let scaled: RunningServer;
  let balancer: Alb;
  before(async () => {
    [byDefault, scaled] = await Promise.all([startServer({ env: { ANALYZER_WORKERS: "1" } }), startServer({ env: { ANALYZER_WORKERS: "1", LB_IDLE_TIMEOUT_SECONDS: "2" } })]);
    balancer = await startAlb({ idleTimeoutSeconds: 2 });
    balancer.setTargets([{ id: "i-scaled", host: "127.0.0.1", port: scaled.port }]);
  });
  after(async () => {
    await balancer?.close();
    await Promise.all([byDefault?.stop(), scaled?.stop()]);
  });

  it("by default outlives the idle timeout the committed template gives the load balancer (one figure for both)", () => {
    const template = parse(fs.readFileSync(path.join(ROOT, "cloudformation/codedetect.yaml"), "utf8"));
    const attributes: { Key: string; Value: string }[] = template.Resources.LoadBalancer.Properties.LoadBalancerAttributes;
    const idle = Number(attributes.find((attribute) => attribute.Key === "idle_timeout.timeout_seconds")!.Value);
    assert.equal(idle, LOAD_BALANCER_IDLE_TIMEOUT_SECONDS);
    assert.ok(listeningLine(byDefault).keep_alive_seconds > idle, `the server keeps ${listeningLine(byDefault).keep_alive_seconds} s, the balancer ${idle} s`);
  });

  it("follows LB_IDLE_TIMEOUT_SECONDS when an operator changes the balancer's timeout", () => {
    assert.equal(listeningLine(scaled).keep_alive_seconds, serverTimeouts(2).keepAliveTimeout / 1000);
    assert.ok(listeningLine(scaled).keep_alive_seconds > 2);
  });

  it("through the ALB twin, connections idle up to the balancer's timeout are reused and never answered 502", async () => {
    const { statuses, burst } = await idleGaps(balancer.url, { connections: 30, fromMs: 1000, toMs: 1990, path: "/api/health" });
    assert.deepEqual(burst, { 200: 30 });
    assert.deepEqual(statuses, { 200: 30 });
    const stats = balancer.stats();
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
});

// The ALB data-plane twin against real Node servers: idle connections reused up to its idle timeout, the 502 race with a server that closes earlier (and none with one that closes later), X-Forwarded-*, its own address as the peer, 503, round robin, draining.
import assert from "node:assert/strict";
import http from "node:http";
import net from "node:net";
import { after, describe, it } from "node:test";
import { startAlb, type Alb } from "./alb.ts";
import { idleGaps } from "./idle-gaps.ts";
import { startRequest } from "../helpers/raw-client.ts";

interface Seen {
  url: string;
  peer: string;
  headers: http.IncomingHttpHeaders;
}

/** A real Node server as a target: records what it sees; GET /hold waits for release(). */
async function backend(options: { keepAliveTimeoutMs: number; name: string }) {
  const seen: Seen[] = [];
  const held: (() => void)[] = [];
  let connections = 0;
  /** Each closed connection: ms after it opened, and whether the other side (the balancer) ended it. */
  const closed: { afterMs: number; byPeer: boolean }[] = [];
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? "", peer: req.socket.remoteAddress ?? "", headers: req.headers });
    const reply = () => res.end(JSON.stringify({ name: options.name }));
    if (req.url === "/hold") held.push(reply);
    else reply();
  });
  server.keepAliveTimeout = options.keepAliveTimeoutMs;
  server.keepAliveTimeoutBuffer = 0; // the figure as configured, so that the race sits where the test puts it
  server.on("connection", (socket) => {
    connections += 1;
    const opened = performance.now();
    let byPeer = false;
    socket.on("end", () => (byPeer = true));
    socket.on("close", () => closed.push({ afterMs: performance.now() - opened, byPeer }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    target: { id: options.name, host: "127.0.0.1", port },
    seen,
    held,
    connections: () => connections,
    closed,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()),
  };
}

const get = (url: string, path: string, from?: string) => startRequest(url, path, { method: "GET", from }).answer;
const until = async (condition: () => boolean) => {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe("ALB twin", () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const close of cleanup.reverse()) await close();
  });
  async function alb(idleTimeoutSeconds: number): Promise<Alb> {
    const balancer = await startAlb({ idleTimeoutSeconds });
    cleanup.push(() => balancer.close());
    return balancer;
  }
  async function server(keepAliveTimeoutMs: number, name = "i-1") {
    const started = await backend({ keepAliveTimeoutMs, name });
    cleanup.push(started.close);
    return started;
  }

  it("reuses an idle back-end connection up to its idle timeout (70 s of 120 s, scaled down 100×), and closes it itself at the timeout", async () => {
    const target = await server(1300); // a server whose keep-alive exceeds the balancer's: the fix of item 2
    const balancer = await alb(1.2);
    balancer.setTargets([target.target]);
    assert.equal((await get(balancer.url, "/first")).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.equal((await get(balancer.url, "/after-70s")).status, 200);
    assert.equal(target.connections(), 1, "the second request came on the connection kept from the first");
    const stats = balancer.stats();
    assert.equal(stats.reused, 1);
    assert.ok(stats.longestReusedIdleMs >= 700, `reused after ${stats.longestReusedIdleMs} ms idle`);
    // the balancer, not the server, ends the idle connection: after its own idle timeout, before the server's
    await until(() => target.closed.length === 1);
    assert.equal(target.closed[0]!.byPeer, true, "the balancer ended the connection (the server read its FIN)");
    assert.ok(target.closed[0]!.afterMs >= 700 + 1200, `closed ${target.closed[0]!.afterMs} ms after it opened: not before the idle timeout`);
  });

  it("answers 502, without retrying, when a target closes a reused connection instead of answering (the refusal of an ALB)", async () => {
    let requests = 0;
    // A target that answers the first request on a connection and closes on the second: the race, made certain.
    const raw = net.createServer((socket) => {
      let served = 0;
      socket.on("data", () => {
        requests += 1;
        served += 1;
        if (served === 1) socket.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok");
        else socket.destroy();
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
    cleanup.push(() => new Promise<void>((resolve) => raw.close(() => resolve())));
    const balancer = await alb(5);
    balancer.setTargets([{ id: "i-raw", host: "127.0.0.1", port: (raw.address() as net.AddressInfo).port }]);
    assert.equal((await get(balancer.url, "/")).status, 200);
    const answer = await get(balancer.url, "/");
    assert.equal(answer.status, 502);
    assert.equal(answer.headers.server, "awselb/2.0");
    assert.match(String(answer.body), /502 Bad Gateway/);
    assert.equal(requests, 2, "the failed request was not sent again");
    assert.deepEqual(balancer.stats().elb, { 502: 1 });
  });

  it("never answers 502 for a server whose keep-alive is longer than its idle timeout; one whose keep-alive is shorter is raced (counted)", async (t) => {
    // The real race: requests sent after idle gaps spread around the server's keep-alive timeout (300 ms); the balancer keeps 5 s.
    // How often the server's FIN and the reused request cross depends on the machine's load, so the short server's 502s are
    // reported, not asserted: the test above proves the 502 itself deterministically (a reused connection closed under it).
    const short = await server(300, "i-short");
    const shortAlb = await alb(5);
    shortAlb.setTargets([short.target]);
    let bad = 0;
    for (let round = 0; round < 3 && bad === 0; round += 1) {
      const { statuses } = await idleGaps(shortAlb.url, { connections: 40, fromMs: 285, toMs: 305, path: "/" });
      bad += statuses[502] ?? 0;
    }
    t.diagnostic(`server keep-alive 300 ms behind a 5 s idle timeout: ${bad} × 502 in the rounds until the first`);
    // The same gaps against a server that keeps connections longer than the balancer (500 ms > 250 ms): the balancer closes first.
    const long = await server(500, "i-long");
    const longAlb = await alb(0.25);
    longAlb.setTargets([long.target]);
    const statuses: Record<number, number> = {};
    for (let round = 0; round < 3; round += 1) {
      const result = await idleGaps(longAlb.url, { connections: 40, fromMs: 150, toMs: 290, path: "/" });
      for (const [status, count] of Object.entries(result.statuses)) statuses[Number(status)] = (statuses[Number(status)] ?? 0) + count;
    }
    assert.deepEqual(statuses, { 200: 120 });
    assert.ok(longAlb.stats().reused > 0, "connections idle up to the balancer's timeout were reused");
  });

  it("appends the client's own address to X-Forwarded-For (clients on 127.0.0.5/.6/.7); the server's peer is the balancer's address", async () => {
    const target = await server(10_000);
    const balancer = await alb(5);
    balancer.setTargets([target.target]);
    for (const from of ["127.0.0.5", "127.0.0.6", "127.0.0.7"]) assert.equal((await get(balancer.url, `/from-${from}`, from)).status, 200);
    await startRequest(balancer.url, "/spoofed", { method: "GET", from: "127.0.0.8", headers: { "x-forwarded-for": "198.51.100.7" } }).answer;
    const forwarded = target.seen.map((request) => [request.url, request.headers["x-forwarded-for"]]);
    assert.deepEqual(forwarded, [
      ["/from-127.0.0.5", "127.0.0.5"],
      ["/from-127.0.0.6", "127.0.0.6"],
      ["/from-127.0.0.7", "127.0.0.7"],
      // a header the client sent is kept; the address the balancer saw is the right-most one
      ["/spoofed", "198.51.100.7, 127.0.0.8"],
    ]);
    for (const request of target.seen) {
      assert.equal(request.peer, balancer.localAddress, "the TCP peer is the balancer, never the client");
      assert.equal(request.headers["x-forwarded-proto"], "http");
      assert.equal(request.headers["x-forwarded-port"], String(balancer.port));
    }
    assert.notEqual(balancer.localAddress, "127.0.0.1");
  });

  it("answers 503 itself with no target (none registered yet, or all taken out), counted as the balancer's own 5xx", async () => {
    const target = await server(10_000);
    const balancer = await alb(5);
    const none = await get(balancer.url, "/");
    assert.equal(none.status, 503);
    assert.equal(none.headers.server, "awselb/2.0");
    balancer.setTargets([target.target]);
    assert.equal((await get(balancer.url, "/")).status, 200);
    balancer.setTargets([]);
    assert.equal((await get(balancer.url, "/")).status, 503);
    assert.deepEqual(balancer.stats().elb, { 503: 2 });
    assert.equal(target.seen.length, 1);
  });

  it("answers 502 when a target refuses the connection, and sends requests round robin", async () => {
    const a = await server(10_000, "i-a");
    const b = await server(10_000, "i-b");
    const balancer = await alb(5);
    balancer.setTargets([a.target, b.target]);
    const names = [];
    for (let i = 0; i < 4; i += 1) names.push((await get(balancer.url, "/")).body.name);
    assert.deepEqual(names, ["i-a", "i-b", "i-a", "i-b"]);
    const gone = net.createServer();
    await new Promise<void>((resolve) => gone.listen(0, "127.0.0.1", resolve));
    const port = (gone.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => gone.close(() => resolve()));
    balancer.setTargets([{ id: "i-gone", host: "127.0.0.1", port }]);
    assert.equal((await get(balancer.url, "/")).status, 502);
  });

  it("drains: a target taken out of the list gets no new request, its request in flight finishes, then its connections close", async () => {
    const a = await server(10_000, "i-a");
    const b = await server(10_000, "i-b");
    const balancer = await alb(5);
    balancer.setTargets([a.target, b.target]);
    const inFlight = get(balancer.url, "/hold"); // to i-a, held
    await until(() => a.held.length === 1);
    balancer.setTargets([b.target]);
    for (let i = 0; i < 3; i += 1) assert.equal((await get(balancer.url, "/")).body.name, "i-b");
    assert.equal(a.seen.length, 1, "no new request reached the draining target");
    a.held[0]!();
    const finished = await inFlight;
    assert.equal(finished.status, 200);
    assert.equal(finished.body.name, "i-a");
    await until(() => a.closed.length === 1); // its idle connection is closed once it has drained
    assert.deepEqual(balancer.stats().byTarget, { "i-a": 1, "i-b": 3 });
  });
});

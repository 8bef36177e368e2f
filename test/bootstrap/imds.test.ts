// IMDSv2 against a loopback server that behaves like the real one (token PUT, 401 without a token), with its failure modes.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { createImdsClient } from "../../bootstrap/adapters/imds.ts";

interface Behaviour {
  /** Requests to drop without answering (the client times out), counted from the first. */
  hang?: number;
  /** Answer 503 to this many requests first. */
  unavailable?: number;
  /** Token PUT refused with this status. */
  tokenStatus?: number;
  /** Reject every token as expired. */
  rejectTokens?: boolean;
}

const servers: http.Server[] = [];
after(() => servers.forEach((server) => server.close()));

async function imds(behaviour: Behaviour = {}) {
  const tokens = new Set<string>();
  const log: string[] = [];
  let seen = 0;
  const server = http.createServer((request, response) => {
    seen += 1;
    log.push(`${request.method} ${request.url}`);
    if (behaviour.hang && seen <= behaviour.hang) return; // never answered
    if (behaviour.unavailable && seen <= (behaviour.hang ?? 0) + behaviour.unavailable) return void response.writeHead(503).end();
    if (request.method === "PUT" && request.url === "/latest/api/token") {
      const ttl = Number(request.headers["x-aws-ec2-metadata-token-ttl-seconds"]);
      if (behaviour.tokenStatus) return void response.writeHead(behaviour.tokenStatus).end();
      if (!(ttl >= 1 && ttl <= 21600)) return void response.writeHead(400).end();
      const token = `token-${seen}`;
      tokens.add(token);
      return void response.writeHead(200).end(token);
    }
    const token = String(request.headers["x-aws-ec2-metadata-token"] ?? "");
    if (!tokens.has(token) || behaviour.rejectTokens) return void response.writeHead(401).end();
    const values: Record<string, string> = {
      "/latest/meta-data/instance-id": "i-0abc1234def567890",
      "/latest/meta-data/placement/availability-zone": "eu-west-1b",
      "/latest/meta-data/placement/region": "eu-west-1",
    };
    const value = values[request.url ?? ""];
    if (value === undefined) return void response.writeHead(404).end();
    response.writeHead(200).end(value);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, log, tokens };
}

describe("IMDSv2 client", () => {
  it("takes a token, then reads instance id, zone and region with it", async () => {
    const server = await imds();
    const result = await createImdsClient(server.url).identity();
    assert.deepEqual(result, { state: "ok", identity: { instanceId: "i-0abc1234def567890", zone: "eu-west-1b", region: "eu-west-1" } });
    assert.equal(server.log[0], "PUT /latest/api/token");
    assert.equal(server.log.filter((line) => line.startsWith("PUT")).length, 1, "one token for all reads");
  });

  it("the server really refuses a request without a token (401), which the client never sends", async () => {
    const server = await imds();
    assert.equal((await fetch(`${server.url}/latest/meta-data/instance-id`)).status, 401);
  });

  it("rides out timeouts and 503s within its attempts", async () => {
    const server = await imds({ hang: 2, unavailable: 1 });
    const result = await createImdsClient(server.url, { timeoutMs: 200, minDelayMs: 10 }).identity();
    assert.equal(result.state, "ok");
  });

  it("gives up as unreachable after its attempts, saying why", async () => {
    const server = await imds({ hang: 100 });
    const result = await createImdsClient(server.url, { attempts: 3, timeoutMs: 100, minDelayMs: 10 }).identity();
    assert.deepEqual(result, { state: "unreachable", detail: `PUT ${server.url}/latest/api/token: no answer within 100 ms (3 attempts)` });
  });

  it("nothing listening: unreachable, naming the connection error", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await createImdsClient(`http://127.0.0.1:${port}`, { attempts: 2, minDelayMs: 10 }).identity();
    assert.equal(result.state, "unreachable");
    assert.match(result.state === "unreachable" ? result.detail : "", /ECONNREFUSED.*\(2 attempts\)/);
  });

  it("a token refused on every read: one fresh token, then refused (not retried for ever)", async () => {
    const server = await imds({ rejectTokens: true });
    const result = await createImdsClient(server.url, { minDelayMs: 10 }).identity();
    assert.deepEqual(result, { state: "refused", detail: "GET /latest/meta-data/instance-id answered 401 even with a fresh token" });
    assert.equal(server.log.filter((line) => line.startsWith("PUT")).length, 2);
  });

  it("token PUT forbidden (IMDS tokens disabled): refused at once", async () => {
    const server = await imds({ tokenStatus: 403 });
    const result = await createImdsClient(server.url, { minDelayMs: 10 }).identity();
    assert.deepEqual(result, { state: "refused", detail: "token PUT answered 403" });
    assert.equal(server.log.length, 1);
  });
});

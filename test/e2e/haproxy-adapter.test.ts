// The HAProxy balancer adapter against a real HAProxy (runtime API socket) in front of a real HTTP server: register, health, deregister with a request in flight.
import assert from "node:assert/strict";
import { execa } from "execa";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { balancerSpec, createBalancer } from "../../bootstrap/adapters/balancer.ts";
import { parseHaproxySpec } from "../../bootstrap/adapters/haproxy.ts";
import { balancerFor, startHaproxy, type Haproxy } from "../../scripts/ha/haproxy.ts";
import { freePort } from "../../scripts/ha/harness.ts";

const haproxyMissing = (await execa("haproxy", ["-v"], { reject: false })).exitCode !== 0;
const skip = haproxyMissing && process.env.CI !== "true" ? "haproxy not installed (scripts/setup.sh --test installs it)" : false;
const noAws = () => Promise.reject(new Error("no AWS here"));

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, limitMs = 20_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("HAProxy balancer adapter (haproxy:<socket>/<backend>/<server>)", { skip }, () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "cdha-adapter-"));
  let haproxy: Haproxy;
  let server: http.Server;
  let release: (() => void) | null = null;
  let port = 0;

  before(async () => {
    assert.equal(haproxyMissing, false, "haproxy must be installed under CI (scripts/setup.sh --test)");
    port = await freePort();
    server = http.createServer((req, res) => {
      if (req.url === "/slow") {
        release = () => res.end("slow done");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"healthy"}');
    });
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    haproxy = await startHaproxy(root, await freePort(), [{ server: "s1", port }]);
  });
  after(async () => {
    await haproxy?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    fs.rmSync(root, { recursive: true, force: true });
  });

  it("a slot starts unregistered; register makes it healthy once its checks pass; requests then reach the server", async () => {
    const spec = balancerFor(haproxy, { server: "s1", port });
    const balancer = createBalancer(spec, noAws);
    const target = { id: "local-x", port };
    assert.equal((await balancer.health(target)).state, "unregistered");
    await balancer.register(target);
    assert.equal((await until(() => balancer.health(target), (h) => h.state === "healthy")).state, "healthy");
    const answer = await fetch(`${haproxy.url}/api/health`);
    assert.equal(answer.status, 200);
  });

  it("deregister with a request in flight: draining until it completes, then unregistered; the request is answered, new ones are not sent there", async () => {
    const balancer = createBalancer(balancerFor(haproxy, { server: "s1", port }), noAws);
    const target = { id: "local-x", port };
    const inFlight = fetch(`${haproxy.url}/slow`).then((r) => r.text());
    await until(async () => release, (r) => r !== null);
    await balancer.deregister(target);
    assert.equal((await balancer.health(target)).state, "draining");
    assert.equal((await fetch(`${haproxy.url}/api/health`)).status, 503, "no server left in the pool: HAProxy answers 503 itself");
    release!();
    assert.equal(await inFlight, "slow done");
    assert.equal((await until(() => balancer.health(target), (h) => h.state === "unregistered")).state, "unregistered");
  });

  it("a server the backend does not have is unregistered; a refused command is an error naming it", async () => {
    const missing = createBalancer(`haproxy:${haproxy.socket}/app/s9`, noAws);
    assert.equal((await missing.health({ id: "x", port: 1 })).state, "unregistered");
    await assert.rejects(missing.register({ id: "x", port: 1 }), /HAProxy refused "set server app\/s9 state ready"/);
  });

  it("bad specs and a missing socket fail with a precise message; the spec passes through balancerSpec in local mode", async () => {
    assert.throws(() => parseHaproxySpec("haproxy:relative.sock/app/s1"), /expected haproxy:<absolute socket path>\/<backend>\/<server>/);
    assert.throws(() => parseHaproxySpec("haproxy:/x.sock/app"), /expected haproxy:/);
    assert.deepEqual(parseHaproxySpec("haproxy:/run/h a/x.sock/app/s1"), { socket: "/run/h a/x.sock", backend: "app", server: "s1" });
    await assert.rejects(createBalancer(`haproxy:${root}/none.sock/app/s1`, noAws).health({ id: "x", port: 1 }), /HAProxy runtime API at .*none\.sock: .*ENOENT/);
    assert.equal(balancerSpec({ mode: "local", targetGroupArn: "haproxy:/run/x.sock/app/s1" }), "haproxy:/run/x.sock/app/s1");
    assert.equal(balancerSpec({ mode: "local", targetGroupArn: "arn:aws:elasticloadbalancing:example" }), null);
  });
});

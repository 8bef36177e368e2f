// Two versions on one port (issue 16): with REUSE_PORT a second server joins the port, each answers its own health socket, and the one handed over (SIGUSR2) leaves the port to the other; without it a taken port still fails.
import assert from "node:assert/strict";
import http from "node:http";
import path from "node:path";
import { after, describe, it } from "node:test";
import { startServer, tempDir, type RunningServer } from "../helpers/server-process.ts";

/** GET /api/health through a Unix socket: the version that answers. */
function healthOn(socketPath: string): Promise<{ status: number; version: string }> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath, path: "/api/health" }, (response) => {
      let body = "";
      response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, version: (JSON.parse(body) as { version: string }).version }));
    }).on("error", reject);
  });
}

describe("REUSE_PORT and HEALTH_SOCKET", () => {
  const servers: RunningServer[] = [];
  after(async () => {
    for (const server of servers) await server.stop("SIGINT");
  });

  it("a second server joins the first one's port; each health socket reaches its own server; a handover (SIGUSR2) leaves the port to the other with health up, and exits 0", async () => {
    const dataDir = tempDir();
    const sockets = [path.join(dataDir, "old.sock"), path.join(dataDir, "new.sock")];
    const old = await startServer({ dataDir, env: { REUSE_PORT: "1", HEALTH_SOCKET: sockets[0]!, APP_VERSION: "old" } });
    servers.push(old);
    const fresh = await startServer({ dataDir, env: { REUSE_PORT: "1", HEALTH_SOCKET: sockets[1]!, APP_VERSION: "new", PORT: String(old.port) } });
    servers.push(fresh);
    assert.equal(fresh.port, old.port);
    assert.deepEqual(await healthOn(sockets[0]!), { status: 200, version: "old" });
    assert.deepEqual(await healthOn(sockets[1]!), { status: 200, version: "new" });
    assert.equal(await old.stop("SIGUSR2"), 0);
    assert.ok(old.lines.some((line) => line.includes("handing the port over")), old.lines.join("\n"));
    assert.ok(!old.lines.some((line) => line.includes("draining: health now answers 503")), "a handover does not report the instance as going away");
    for (let i = 0; i < 20; i += 1) {
      const response = await fetch(`${old.url}/api/health`);
      assert.equal(((await response.json()) as { version: string }).version, "new", "only the server left answers the port");
    }
  });

  it("without REUSE_PORT a taken port is still refused with one line", async () => {
    const first = servers.at(-1)!;
    await assert.rejects(startServer({ env: { PORT: String(first.port) } }), /cannot listen: port \d+ on 127\.0\.0\.1 is already in use/);
  });
});

// Loopback stand-ins for the bootstrap suites: moto server (EFS, EC2) started by the test, and an IMDSv2 server serving one instance.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Why moto cannot run here, or null. */
export function motoUnavailable(): string | null {
  const probe = spawnSync("moto_server", ["--help"], { encoding: "utf8" });
  return probe.status === 0 ? null : `moto_server not found (${probe.error?.message ?? probe.stderr.trim()}); pip install 'moto[server]'`;
}

export async function startMoto(): Promise<{ url: string; stop: () => void; process: ChildProcess }> {
  const port = await freePort();
  const child = spawn("moto_server", ["-H", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  for (let waited = 0; ; waited += 100) {
    if (await fetch(`${url}/moto-api/`).then(() => true, () => false)) break;
    if (waited > 30_000 || child.exitCode !== null) throw new Error(`moto_server did not start on ${url}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, process: child, stop: () => child.kill("SIGTERM") };
}

/** An IMDSv2 endpoint for one instance: token PUT, 401 without a valid token. */
export async function startImds(identity: { instanceId: string; zone: string; region: string }): Promise<{ url: string; stop: () => void }> {
  const tokens = new Set<string>();
  const server = http.createServer((request, response) => {
    if (request.method === "PUT" && request.url === "/latest/api/token") {
      const token = `t${tokens.size + 1}`;
      tokens.add(token);
      return void response.writeHead(200).end(token);
    }
    if (!tokens.has(String(request.headers["x-aws-ec2-metadata-token"] ?? ""))) return void response.writeHead(401).end();
    const values: Record<string, string> = {
      "/latest/meta-data/instance-id": identity.instanceId,
      "/latest/meta-data/placement/availability-zone": identity.zone,
      "/latest/meta-data/placement/region": identity.region,
    };
    const value = values[request.url ?? ""];
    response.writeHead(value === undefined ? 404 : 200).end(value ?? "");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stop: () => server.close() };
}

/** A loopback stand-in for AWS's RDS trust store: serves what `body()` returns at the global bundle's path, 404 elsewhere. */
export async function startTrustStore(body: () => string): Promise<{ url: string; close: () => void }> {
  const server = http.createServer((request, response) => (request.url === "/global/global-bundle.pem" ? response.end(body()) : response.writeHead(404).end()));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/global/global-bundle.pem`, close: () => server.close() };
}
